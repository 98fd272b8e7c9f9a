namespace RecoverableStreams.FaultTests.Infrastructure;

/// <summary>
/// A worker a fault hit, and what it owned in Redis once the fault had taken hold (read after the signal, the cut or
/// the kill, so nothing it did afterwards can change the list): its session(s) and, per LBS id, the fencing token of
/// its ownership record. The scenario's takeover check is about these streams only: grants in general prove nothing,
/// because rebalancing makes extra grants in every run.
/// </summary>
internal sealed record FaultTarget(string Fault, string Worker, IReadOnlySet<string> Sessions, IReadOnlyDictionary<string, long> Streams)
{
    /// <summary>
    /// The target's records among <paramref name="records"/> (LBS id, value <c>consumer|suffix|token</c>): those whose
    /// consumer id ends with the worker's pod name.
    /// </summary>
    public static FaultTarget FromRecords(string fault, string worker, IEnumerable<(string Id, string Value)> records)
    {
        var sessions = new HashSet<string>(StringComparer.Ordinal);
        var streams = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (id, value) in records)
        {
            var parts = value.Split('|');
            if (parts.Length != 3 || !parts[0].EndsWith(worker, StringComparison.Ordinal) || !long.TryParse(parts[2], System.Globalization.CultureInfo.InvariantCulture, out var token))
            {
                continue;
            }

            sessions.Add(parts[0] + "|" + parts[1]);
            streams[id] = token;
        }

        return new FaultTarget(fault, worker, sessions, streams);
    }

    /// <summary>
    /// The target's streams (among those <paramref name="isChecked"/> selects) that nobody took over: taken over means
    /// a later grant (higher token) to a session other than the target's, or, for a grant the monitor could not see
    /// (it was disconnected by a Redis restart), a summary written under a higher token than the target's.
    /// </summary>
    public IReadOnlyList<string> NotTakenOver(Func<string, IReadOnlyList<LeaseMonitor.Grant>> grantsOf, Func<string, long?> summaryToken, Func<string, bool> isChecked) =>
        [.. Streams
            .Where(s => isChecked(s.Key))
            .Where(s => !grantsOf(s.Key).Any(g => g.Token > s.Value && !Sessions.Contains(g.ConsumerId + "|" + g.Instance))
                && !(summaryToken(s.Key) is { } written && written > s.Value))
            .OrderBy(s => s.Key, StringComparer.Ordinal)
            .Select(s => $"{s.Key} (token {s.Value} of {Worker}; grants seen: {Describe(grantsOf(s.Key))}; summary token {summaryToken(s.Key)?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"})")];

    private static string Describe(IReadOnlyList<LeaseMonitor.Grant> grants) =>
        grants.Count == 0 ? "none" : string.Join(", ", grants.Select(g => $"{g.Token}@{g.ConsumerId}|{g.Instance}"));
}

/// <summary>What became of one fault target: its streams taken over, and what Redis refused of its sessions' late calls.</summary>
internal sealed record TargetReport(FaultTarget Target, int Checked, IReadOnlyList<string> NotTakenOver, LeaseMonitor.SessionRefusals Refused)
{
    public int TakenOver => Checked - NotTakenOver.Count;

    public override string ToString() =>
        $"{Target.Fault} {Target.Worker}: owned {Target.Streams.Count} ({Checked} checked), taken over {TakenOver}, its session's late calls refused {Refused.LateCalls}, stale writes refused {Refused.StaleWrites}";
}
