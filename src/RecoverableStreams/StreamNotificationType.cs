namespace RecoverableStreams;

/// <summary>What a <see cref="StreamNotification"/> tells its reader.</summary>
public enum StreamNotificationType
{
    /// <summary>This consumer now owns the stream; <see cref="StreamNotification.Lease"/> is set.</summary>
    StreamAdded,

    /// <summary>
    /// A stream's lease expired and nobody owns it (only when <see cref="RecoverableStreamOptions.AutoClaim"/> is
    /// <see langword="false"/>): call <see cref="IRecoverableStreamClient.ClaimAsync"/> to take it over.
    /// </summary>
    StreamExpired,

    /// <summary>
    /// This consumer's lease of a stream ended without the application asking (its session ended, a peer or an operator
    /// took it, rebalancing handed it over, its handler stalled): stop working on it. <see cref="StreamNotification.EndReason"/>
    /// says why. Ends the application asked for (complete, release, dead letter, shutdown) are not notified.
    /// </summary>
    StreamDisowned,

    /// <summary>The client stopped because of an unrecoverable error; <see cref="StreamNotification.TerminationReason"/> says which. Last notification.</summary>
    StreamTerminated,

    /// <summary>
    /// A peer gave a stream back unfinished (only when <see cref="RecoverableStreamOptions.AutoClaim"/> is
    /// <see langword="false"/>): call <see cref="IRecoverableStreamClient.ClaimAsync"/> to take it over.
    /// </summary>
    StreamReleased,
}
