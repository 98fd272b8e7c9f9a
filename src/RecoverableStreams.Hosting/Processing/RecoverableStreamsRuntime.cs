using StackExchange.Redis;

namespace RecoverableStreams.Hosting.Processing;

/// <summary>
/// What one service's worker is running now, shared with its health check and the metrics: the connection and the
/// client (replaced when the client is restarted after a fatal error).
/// </summary>
internal sealed class RecoverableStreamsRuntime
{
    private volatile State? _state;

    public RecoverableStreamsRuntime(string key = "") => Key = key;

    /// <summary>The service key; empty for the default service.</summary>
    public string Key { get; }

    public IConnectionMultiplexer? Connection => _state?.Connection;

    public RecoverableStreamClient? Client => _state?.Client;

    /// <summary>Why the last client stopped on its own (a <see cref="StreamNotificationType.StreamTerminated"/> or start failure), if it did.</summary>
    public string? LastError { get; private set; }

    /// <summary>Set once the host began stopping: the health check then reports the client as stopped.</summary>
    public bool Stopping { get; private set; }

    public void Started(IConnectionMultiplexer connection, RecoverableStreamClient client)
    {
        _state = new State(connection, client);
        LastError = null;
    }

    public void Failed(string error) => LastError = error;

    public void MarkStopping() => Stopping = true;

    private sealed record State(IConnectionMultiplexer Connection, RecoverableStreamClient Client);
}
