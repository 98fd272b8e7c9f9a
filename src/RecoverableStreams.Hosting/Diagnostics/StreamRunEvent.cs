namespace RecoverableStreams.Hosting.Diagnostics;

/// <summary>What a <see cref="Processing.StreamRun"/> reports; each kind is reported at most once per step, by the run alone.</summary>
internal enum StreamRunEventKind
{
    /// <summary>The run began: this worker owns the stream (assigned, or claimed/recovered).</summary>
    Acquired,

    /// <summary>A handler was chosen and is about to run (<see cref="StreamRunEvent.Attempt"/>, <see cref="StreamRunEvent.Handler"/>).</summary>
    HandlerStarting,

    /// <summary>The handler returned or threw (<see cref="StreamRunEvent.Exception"/>); <see cref="StreamRunEvent.Delay"/> is how long it ran.</summary>
    HandlerReturned,

    /// <summary>An attempt threw: counted in Redis, or (<see cref="StreamRunEvent.IsOutage"/>) a Redis outage retried under the same lease.</summary>
    AttemptFailed,

    /// <summary>The run ended, one way: <see cref="StreamRunEvent.Outcome"/>.</summary>
    Ended,
}

/// <summary>
/// One report of a stream run: the single source of the run's logs, metrics, span tags and observer events
/// (<see cref="StreamRunTelemetry"/> turns it into each), as Polly v8 reports a resilience event once and its
/// listeners write the rest.
/// </summary>
internal sealed record StreamRunEvent(StreamRunEventKind Kind, StreamLease Lease)
{
    public int? Attempt { get; init; }

    public string? Handler { get; init; }

    public Exception? Exception { get; init; }

    public bool IsOutage { get; init; }

    /// <summary>For <see cref="StreamRunEventKind.AttemptFailed"/>: the failed attempts counted in Redis so far.</summary>
    public long FailedAttempts { get; init; }

    public StreamRunOutcome? Outcome { get; init; }

    /// <summary>Why, in words, for the log line and the observer (a retry's back-off, a hand-over's cause, a dead letter's reason).</summary>
    public string? Reason { get; init; }

    /// <summary>
    /// A duration: for a retry, the back-off waited before the release; for <see cref="StreamRunEventKind.HandlerStarting"/>
    /// of a taken-over stream, the failover latency; for <see cref="StreamRunEventKind.HandlerReturned"/>, the handler attempt's run.
    /// </summary>
    public TimeSpan? Delay { get; init; }

    /// <summary>The lease's end reason that the outcome implies (<see langword="null"/> when ownership ended elsewhere).</summary>
    public LeaseEndReason? EndReason => Outcome switch
    {
        StreamRunOutcome.Completed => LeaseEndReason.Completed,
        StreamRunOutcome.RetryScheduled or StreamRunOutcome.HandedOver => LeaseEndReason.Released,
        StreamRunOutcome.DeadLettered => LeaseEndReason.DeadLettered,
        StreamRunOutcome.ReleasedAtShutdown => LeaseEndReason.Shutdown,
        _ => null,
    };
}
