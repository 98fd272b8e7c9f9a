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

    /// <summary>This consumer lost a stream it owned (its lease expired or a peer claimed it). Stop working on it.</summary>
    StreamDisowned,

    /// <summary>The client stopped because of an unrecoverable error; <see cref="StreamNotification.Reason"/> says which. Last notification.</summary>
    StreamTerminated,

    /// <summary>
    /// A peer gave a stream back unfinished (only when <see cref="RecoverableStreamOptions.AutoClaim"/> is
    /// <see langword="false"/>): call <see cref="IRecoverableStreamClient.ClaimAsync"/> to take it over.
    /// </summary>
    StreamReleased,
}
