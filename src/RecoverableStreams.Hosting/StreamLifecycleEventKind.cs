namespace RecoverableStreams.Hosting;

/// <summary>What happened to a stream, for <see cref="IStreamLifecycleObserver"/>.</summary>
public enum StreamLifecycleEventKind
{
    /// <summary>This worker took a new stream from the load-balancer stream.</summary>
    Assigned,

    /// <summary>This worker took over a stream after a peer's lease expired or was released (or after its own restart: <see cref="LeaseOrigin.Recovered"/>).</summary>
    Claimed,

    /// <summary>This worker gave the stream back unfinished: for a retry after a failure, or at shutdown.</summary>
    Released,

    /// <summary>This worker lost the stream (its lease expired or a peer took it over).</summary>
    Disowned,

    /// <summary>The handler returned normally and the stream was completed.</summary>
    Completed,

    /// <summary>The handler threw; the attempt was counted (<see cref="StreamLifecycleEvent.Exception"/> says why).</summary>
    Failed,

    /// <summary>The stream went to the dead-letter stream (attempts exhausted, or no handler matches it).</summary>
    DeadLettered,
}
