namespace RecoverableStreams;

/// <summary>
/// Thrown when a write that needs ownership (complete, checkpoint, release, dead-letter) is refused because this
/// consumer no longer holds the stream's lease. Nothing was written.
/// </summary>
public sealed class StreamOwnershipLostException : RecoverableStreamsException
{
    /// <summary>Creates an exception with no message.</summary>
    public StreamOwnershipLostException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public StreamOwnershipLostException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and its cause.</summary>
    public StreamOwnershipLostException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
