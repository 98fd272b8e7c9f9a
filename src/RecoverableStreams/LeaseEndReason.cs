namespace RecoverableStreams;

/// <summary>
/// Why a lease ended. Every lease ends exactly once, through one path: it stops locally first (its
/// <see cref="StreamLease.OwnershipLost"/> token fires and <see cref="StreamLease.IsOwned"/> turns
/// <see langword="false"/>), then the record in Redis follows.
/// </summary>
public enum LeaseEndReason
{
    /// <summary>The owner finished the stream: it is acknowledged and gone from the load-balancer stream.</summary>
    Completed,

    /// <summary>The owner gave the stream back unfinished; a peer takes it at once.</summary>
    Released,

    /// <summary>Rebalancing moved the stream to a consumer with spare capacity.</summary>
    HandedOver,

    /// <summary>The stream was moved to the dead-letter stream (too many failed attempts, or a malformed or oversized entry).</summary>
    DeadLettered,

    /// <summary>The handler made no progress within the stall timeout; the stream was released for a peer.</summary>
    Stalled,

    /// <summary>This consumer's session passed its deadline (no renewal in time: a pause, a partition, an outage).</summary>
    SessionEnded,

    /// <summary>Redis names another owner or a newer fencing token: the stream was taken over.</summary>
    Superseded,

    /// <summary>An operator force-released the stream.</summary>
    ForceReleased,

    /// <summary>The client is shutting down; the stream was released for a peer, not completed.</summary>
    Shutdown,
}
