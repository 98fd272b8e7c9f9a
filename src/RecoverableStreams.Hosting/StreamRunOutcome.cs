namespace RecoverableStreams.Hosting;

/// <summary>
/// How one run of a stream on this worker ended (a run: from the lease to its end, one handler at a time). The
/// worker's span, metrics, logs and <see cref="IStreamLifecycleObserver"/> events all derive from it, and the
/// RecoverableStreams.Testing package's <c>FakeStreamWork.RunAsync</c> reports it for a handler under test.
/// </summary>
public enum StreamRunOutcome
{
    /// <summary>The handler returned normally and the stream was completed (<see cref="LeaseEndReason.Completed"/>).</summary>
    Completed = 0,

    /// <summary>
    /// The handler (or the run around it) threw before the last attempt: the attempt was counted in Redis and the
    /// stream released for a retry after a back-off (<see cref="LeaseEndReason.Released"/>).
    /// </summary>
    RetryScheduled = 1,

    /// <summary>
    /// The stream went to the dead-letter stream: the attempts were exhausted, or no live consumer has a handler for it
    /// (<see cref="LeaseEndReason.DeadLettered"/>).
    /// </summary>
    DeadLettered = 2,

    /// <summary>
    /// Ownership ended elsewhere while the stream ran (the session's deadline passed, a peer took it over, an operator
    /// force-released it, or it stalled): nothing was completed or counted; the next owner resumes from the last
    /// checkpoint.
    /// </summary>
    OwnershipLost = 3,

    /// <summary>The host is stopping: the stream was given back unfinished for a peer (<see cref="LeaseEndReason.Shutdown"/>).</summary>
    ReleasedAtShutdown = 4,

    /// <summary>
    /// Given back for another consumer to take: no handler here matches it but a live peer's does, or its handler kept
    /// hitting a Redis outage for longer than <c>MaxOutageRetryDuration</c>
    /// (<see cref="LeaseEndReason.Released"/>).
    /// </summary>
    HandedOver = 5,
}
