namespace RecoverableStreams;

/// <summary>Thrown by <see cref="IRecoverableStreamClient.ClaimAsync"/> when another consumer holds the stream's lease.</summary>
public sealed class StreamAlreadyClaimedException : RecoverableStreamsException
{
    /// <summary>Creates an exception with no message.</summary>
    public StreamAlreadyClaimedException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public StreamAlreadyClaimedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and its cause.</summary>
    public StreamAlreadyClaimedException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The consumer that holds the lease, when known.</summary>
    public string? OwnerConsumerId { get; init; }
}
