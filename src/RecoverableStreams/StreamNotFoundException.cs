namespace RecoverableStreams;

/// <summary>Thrown when a stream's LBS entry no longer needs an owner: it was completed or dead-lettered.</summary>
public sealed class StreamNotFoundException : RecoverableStreamsException
{
    /// <summary>Creates an exception with no message.</summary>
    public StreamNotFoundException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public StreamNotFoundException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and its cause.</summary>
    public StreamNotFoundException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
