namespace RecoverableStreams.Administration;

/// <summary>What a force-release did.</summary>
/// <param name="Stream">The data stream name or LBS id asked for.</param>
/// <param name="Outcome">Whether an owner was removed.</param>
/// <param name="Released">The ownerships removed (more than one when the same data stream was announced twice).</param>
public sealed record ForceRelease(string Stream, ForceReleaseOutcome Outcome, IReadOnlyList<StreamOwner> Released);

/// <summary>The outcome of a force-release.</summary>
public enum ForceReleaseOutcome
{
    /// <summary>
    /// The ownership was removed: peers take the stream over, and the old owner's writes are refused from now on.
    /// </summary>
    Released,

    /// <summary>No one owns this stream (never announced, not delivered yet, completed, or already free).</summary>
    NotOwned,
}
