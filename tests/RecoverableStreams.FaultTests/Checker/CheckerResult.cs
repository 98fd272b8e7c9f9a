using System.Text;

namespace RecoverableStreams.FaultTests.Checker;

/// <summary>A run's history, its violations and its figures.</summary>
internal sealed record CheckerResult(
    CheckerSettings Settings,
    IReadOnlyList<HistoryEvent> History,
    IReadOnlyList<Violation> Violations,
    bool Drained,
    IReadOnlyDictionary<HistoryOp, int> Faults,
    int Announced,
    string Directory)
{
    public int Grants => History.Count(e => e.Op == HistoryOp.Own);

    public int Operations => History.Count(e => e.Phase == HistoryPhase.Invoke);

    /// <summary>The failovers the nemesis recorded, each with the primary's address before and after.</summary>
    public IReadOnlyList<PrimaryMove> PrimaryMoves => History.Select(PrimaryMove.Read).OfType<PrimaryMove>().ToList();

    public int Count(HistoryOp op, HistoryPhase phase) => History.Count(e => e.Op == op && e.Phase == phase);

    /// <summary>One line of figures, for the test output and the RELIABILITY.md table.</summary>
    public string Summary() =>
        $"seed {Settings.Seed} ({Settings.Topology}): {Settings.Duration.TotalSeconds:0} s of faults, {Announced} streams announced, {Grants} grants, {Operations} operations "
        + $"(checkpoints ok {Count(HistoryOp.Checkpoint, HistoryPhase.Ok)} / refused {Count(HistoryOp.Checkpoint, HistoryPhase.Fail)} / unknown {Count(HistoryOp.Checkpoint, HistoryPhase.Unknown)}, "
        + $"completed {Count(HistoryOp.Complete, HistoryPhase.Ok)}, dead-lettered {Count(HistoryOp.DeadLetter, HistoryPhase.Ok)}, released {Count(HistoryOp.Release, HistoryPhase.Ok)}), "
        + $"faults {string.Join(", ", Faults.OrderBy(f => f.Key).Select(f => $"{f.Key} {f.Value}"))}"
        + (PrimaryMoves.Count == 0 ? "" : $" (primary moved: {string.Join(", ", PrimaryMoves)})")
        + $"; drained {Drained}; violations {Violations.Count}";

    /// <summary>The failure message: what broke, the history around it, and the one command that runs this seed again.</summary>
    public string Report(string testFilter)
    {
        var text = new StringBuilder();
        text.AppendLine(Summary());
        foreach (var group in Violations.GroupBy(v => v.Kind))
        {
            text.AppendLine($"{group.Key}: {group.Count()}");
            foreach (var violation in group.Take(3))
            {
                text.AppendLine("  " + violation);
            }
        }

        text.AppendLine($"histories: {Directory}");
        text.AppendLine($"reproduce: CHECKER_SEEDS={Settings.Seed} CHECKER_DURATION={Settings.Duration.TotalSeconds:0} dotnet test tests/RecoverableStreams.FaultTests -c Release --filter \"FullyQualifiedName~{testFilter}\"");
        return text.ToString();
    }
}
