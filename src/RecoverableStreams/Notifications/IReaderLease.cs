namespace RecoverableStreams.Notifications;

/// <summary>
/// The lease a reader of a data stream reads for, as the wake-up machinery sees it (<see cref="StreamLease"/>): a
/// sleeping reader heartbeats it, and its end wakes the reader, which then finds <see cref="StreamLease.OwnershipLost"/>
/// fired (no per-reader registration on it).
/// </summary>
internal interface IReaderLease
{
    /// <summary>Records progress (HandlerStallTimeout): a reader sleeping at the end of its stream is alive.</summary>
    void Heartbeat();

    /// <summary>Fires when the lease ends (read only where a wait must end with it: it is created on first read).</summary>
    CancellationToken OwnershipLost { get; }
}
