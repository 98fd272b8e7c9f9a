namespace RecoverableStreams.Hosting;

/// <summary>One event in a stream's life on this worker, for <see cref="IStreamLifecycleObserver"/>.</summary>
public sealed class StreamLifecycleEvent
{
    /// <summary>What happened.</summary>
    public required StreamLifecycleEventKind Kind { get; init; }

    /// <summary>The data stream.</summary>
    public required string DataStreamName { get; init; }

    /// <summary>The LBS entry that announced it.</summary>
    public required string IdInLbs { get; init; }

    /// <summary>This worker's consumer id.</summary>
    public required string ConsumerId { get; init; }

    /// <summary>The fencing token of this worker's lease, when it held one.</summary>
    public long? FencingToken { get; init; }

    /// <summary>How this worker came to own the stream, when it did.</summary>
    public LeaseOrigin? Origin { get; init; }

    /// <summary>The attempt (1 plus earlier failed attempts), once the handler was chosen.</summary>
    public int? Attempt { get; init; }

    /// <summary>Why, for <see cref="StreamLifecycleEventKind.Released"/>, <see cref="StreamLifecycleEventKind.Disowned"/> and <see cref="StreamLifecycleEventKind.DeadLettered"/>.</summary>
    public string? Reason { get; init; }

    /// <summary>The handler's exception, for <see cref="StreamLifecycleEventKind.Failed"/> (and a dead letter that followed one).</summary>
    public Exception? Exception { get; init; }

    /// <summary>How the run ended, on the run's last event (<see cref="StreamLifecycleEventKind.Completed"/>, <see cref="StreamLifecycleEventKind.Released"/>, <see cref="StreamLifecycleEventKind.Disowned"/>, <see cref="StreamLifecycleEventKind.DeadLettered"/>); <see langword="null"/> on the others.</summary>
    public StreamRunOutcome? Outcome { get; init; }

    /// <inheritdoc />
    public override string ToString() => $"{Kind} {DataStreamName} ({IdInLbs}){(Reason is null ? "" : ": " + Reason)}";
}
