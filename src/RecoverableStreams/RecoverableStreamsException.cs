namespace RecoverableStreams;

/// <summary>
/// Base class of every exception this library throws on purpose. A Redis failure underneath is kept as
/// <see cref="Exception.InnerException"/>.
/// </summary>
public class RecoverableStreamsException : Exception
{
    /// <summary>Creates an exception with no message.</summary>
    public RecoverableStreamsException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public RecoverableStreamsException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and its cause.</summary>
    public RecoverableStreamsException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
