namespace RecoverableStreams.FaultTests.Checker;

/// <summary>The rules the checker holds a history to.</summary>
internal enum ViolationKind
{
    /// <summary>Two handlers of one stream ran at the same moment: one saw IsOwned true after the other's grant.</summary>
    OverlappingOwners,

    /// <summary>A grant did not carry a higher fencing token than every grant seen before it (or two grants shared one).</summary>
    TokenNotIncreasing,

    /// <summary>A write was accepted with a token older than a grant that was already observed.</summary>
    StaleWriteAccepted,

    /// <summary>A stream was completed or dead-lettered more than once, or written or owned after it ended.</summary>
    EndedTwice,

    /// <summary>An announced stream never ended: still in the LBS after the quiet period, or no end recorded.</summary>
    StreamLost,
}

/// <summary>One broken rule, with the events that show it.</summary>
internal sealed record Violation(ViolationKind Kind, string Stream, string Message, IReadOnlyList<HistoryEvent> Excerpt)
{
    public override string ToString() =>
        $"{Kind} on {Stream}: {Message}{Environment.NewLine}    " + string.Join(Environment.NewLine + "    ", Excerpt);
}
