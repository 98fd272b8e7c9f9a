namespace RecoverableStreams.FaultTests.Checker;

/// <summary>
/// Checks a history (every process's events on the shared monotonic clock) after the run, Jepsen-style: a pure function
/// from events to violations. Each rule is sound for the clock's uncertainty: an <c>Own</c> or <c>Invoke</c> timestamp
/// is taken before the ownership read or the send it records, and a grant is recorded after Redis made it, so a
/// violation reported here happened in real time (a real one may still be missed, never invented).
/// </summary>
internal static class HistoryChecker
{
    /// <summary>Events of one stream shown around a violation.</summary>
    private const int ExcerptRadius = 6;

    /// <param name="history">Every event, any order.</param>
    /// <param name="streamsStillInLbs">Redis's truth after the quiet period: announced streams whose LBS entry is still there.</param>
    public static IReadOnlyList<Violation> Check(IEnumerable<HistoryEvent> history, IReadOnlySet<string> streamsStillInLbs)
    {
        var events = history.OrderBy(e => e.Time).ToList();
        var violations = new List<Violation>();
        foreach (var group in events.Where(e => e.Stream is not null).GroupBy(e => e.Stream!, StringComparer.Ordinal))
        {
            CheckStream(group.Key, group.ToList(), streamsStillInLbs.Contains(group.Key), violations);
        }

        foreach (var stream in streamsStillInLbs.Where(s => !events.Any(e => e.Stream == s)))
        {
            violations.Add(new(ViolationKind.StreamLost, stream, "in the LBS after the quiet period, never announced by the checker nor granted", []));
        }

        // Each excerpt also shows the faults and process starts and stops of its time span.
        var faults = events.Where(e => e.Stream is null).ToList();
        return violations.Select(v => v.Excerpt.Count == 0 ? v : v with
        {
            Excerpt = [.. v.Excerpt.Concat(faults.Where(f => f.Time >= v.Excerpt[0].Time && f.Time <= v.Excerpt[^1].Time)).OrderBy(e => e.Time)],
        }).ToList();
    }

    private static void CheckStream(string stream, List<HistoryEvent> events, bool stillInLbs, List<Violation> violations)
    {
        // A run: one handler of one grant (process, token). Its interval runs from its Own to its last ownership
        // observation (Own, or the invoke of an operation, each recorded after reading IsOwned == true).
        var runs = events
            .Where(e => e.Op == HistoryOp.Own || (e.Phase == HistoryPhase.Invoke && e.Op != HistoryOp.Announce))
            .GroupBy(e => (e.Process, e.Token))
            .Select(g => new Run(g.Key.Process, g.Key.Token, g.First(), g.Last()))
            .OrderBy(r => r.First.Time)
            .ToList();

        for (var i = 0; i < runs.Count; i++)
        {
            for (var j = i + 1; j < runs.Count; j++)
            {
                var (earlier, later) = (runs[i], runs[j]);
                if (later.First.Time < earlier.Last.Time)
                {
                    violations.Add(new(ViolationKind.OverlappingOwners, stream,
                        $"{later.Process} (token {later.Token}) started at {Ms(later.First)} while {earlier.Process} (token {earlier.Token}) still saw itself owner until {Ms(earlier.Last)}",
                        Excerpt(events, later.First, earlier.Last)));
                }

                if (later.Token <= earlier.Token)
                {
                    violations.Add(new(ViolationKind.TokenNotIncreasing, stream,
                        $"{later.Process}'s grant (token {later.Token}, {Ms(later.First)}) came after {earlier.Process}'s (token {earlier.Token}, {Ms(earlier.First)})",
                        Excerpt(events, earlier.First, later.First)));
                }
            }
        }

        var writes = events.Where(e => e.Op is HistoryOp.Checkpoint or HistoryOp.Complete or HistoryOp.Release or HistoryOp.DeadLetter).ToList();
        var accepted = writes.Where(e => e.Phase == HistoryPhase.Ok).ToList();
        foreach (var ok in accepted)
        {
            var invoke = writes.FirstOrDefault(e => e.Phase == HistoryPhase.Invoke && e.Process == ok.Process && e.Id == ok.Id) ?? ok;
            // Redis applied the write after its invoke; a grant observed before that invoke was made in Redis before it.
            var newer = runs.FirstOrDefault(r => r.Token > ok.Token && r.First.Time < invoke.Time);
            if (newer is not null)
            {
                violations.Add(new(ViolationKind.StaleWriteAccepted, stream,
                    $"{ok.Op} by {ok.Process} with token {ok.Token} invoked at {Ms(invoke)} was accepted, but {newer.Process} had been granted token {newer.Token} at {Ms(newer.First)}",
                    Excerpt(events, newer.First, ok)));
            }
        }

        var ends = accepted.Where(e => e.Op is HistoryOp.Complete or HistoryOp.DeadLetter).ToList();
        if (ends.Count > 1)
        {
            violations.Add(new(ViolationKind.EndedTwice, stream,
                $"ended {ends.Count} times: {string.Join(", ", ends.Select(e => $"{e.Op} by {e.Process} token {e.Token} at {Ms(e)}"))}",
                Excerpt(events, ends[0], ends[^1])));
        }

        if (ends.Count > 0)
        {
            // Once Redis confirmed the end, nobody may see itself owner or have a write accepted any more.
            var end = ends[0];
            var after = events.FirstOrDefault(e => e.Time > end.Time
                && (e.Op == HistoryOp.Own || (e.Phase == HistoryPhase.Invoke && e.Op != HistoryOp.Announce && (e.Process != end.Process || e.Token != end.Token))));
            if (after is not null)
            {
                violations.Add(new(ViolationKind.EndedTwice, stream,
                    $"{after.Process} (token {after.Token}) saw itself owner at {Ms(after)}, after {end.Op} by {end.Process} was confirmed at {Ms(end)}",
                    Excerpt(events, end, after)));
            }
        }

        var announced = events.Any(e => e.Op == HistoryOp.Announce && e.Phase == HistoryPhase.Ok);
        var unknownEnd = writes.Any(e => e.Op is HistoryOp.Complete or HistoryOp.DeadLetter && (e.Phase == HistoryPhase.Unknown || IsOpen(e, writes)));
        if (stillInLbs || (announced && ends.Count == 0 && !unknownEnd))
        {
            violations.Add(new(ViolationKind.StreamLost, stream,
                stillInLbs ? "still in the LBS after the quiet period" : "announced, gone from the LBS, but no end was recorded",
                events.TakeLast(2 * ExcerptRadius).ToList()));
        }
    }

    /// <summary>An invoke without a completion (its process was killed): the write may have been applied.</summary>
    private static bool IsOpen(HistoryEvent e, List<HistoryEvent> writes) =>
        e.Phase == HistoryPhase.Invoke && !writes.Any(w => w.Process == e.Process && w.Id == e.Id && w.Phase != HistoryPhase.Invoke);

    private static List<HistoryEvent> Excerpt(List<HistoryEvent> events, HistoryEvent from, HistoryEvent to)
    {
        var (a, b) = (events.IndexOf(from), events.IndexOf(to));
        if (a > b)
        {
            (a, b) = (b, a);
        }

        var start = Math.Max(0, a - ExcerptRadius);
        var end = Math.Min(events.Count - 1, b + ExcerptRadius);
        return events.GetRange(start, end - start + 1);
    }

    private static string Ms(HistoryEvent e) => $"{e.Time / 1_000_000.0:F3} ms";

    private sealed record Run(string Process, long Token, HistoryEvent First, HistoryEvent Last);
}
