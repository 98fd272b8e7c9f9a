namespace RecoverableStreams.Testing;

/// <summary>What the worker would do with the stream after the handler's run, as <see cref="FakeStreamWork.RunAsync"/> reports it.</summary>
public enum StreamWorkOutcome
{
    /// <summary>The handler returned normally: the worker completes the stream.</summary>
    Completed = 0,

    /// <summary>The handler threw before the last attempt: the worker counts the attempt and releases the stream for a retry after a back-off.</summary>
    Failed = 1,

    /// <summary>The handler threw on attempt <see cref="FakeStreamWork.MaxDeliveryAttempts"/>: the worker moves the stream to the dead-letter stream.</summary>
    DeadLettered = 2,

    /// <summary>Ownership was lost while the handler ran: the worker neither completes nor counts anything; the new owner resumes from the last checkpoint.</summary>
    OwnershipLost = 3,

    /// <summary>The caller's token fired (the host stopping): the worker releases the stream, unfinished, for a peer.</summary>
    Cancelled = 4,
}
