using System.Collections.Concurrent;
using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.DataStreams;

/// <summary>
/// A consumer whose every owned stream gets a handler that reads it with <see cref="StreamLease.ReadEntriesAsync"/>
/// and counts the entries it receives, per data stream.
/// </summary>
internal sealed class WatchedReaders : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, int> _received = new(StringComparer.Ordinal);
    private readonly ConcurrentBag<Task> _handlers = [];
    private TestConsumer _consumer = null!;

    public RecoverableStreamClient Client => _consumer.Client;

    public TestConsumer Consumer => _consumer;

    public Checkpoints.DataStreamWatcher Watcher => _consumer.Client.DataStreams;

    public int Received(string dataStream) => _received.GetValueOrDefault(dataStream);

    public IReadOnlyDictionary<string, int> AllReceived => new Dictionary<string, int>(_received);

    public static async Task<WatchedReaders> StartAsync(IConnectionMultiplexer redis, RecoverableStreamOptions options)
    {
        var readers = new WatchedReaders();
        readers._consumer = await TestConsumer.StartAsync(redis, options, onNotification: n =>
        {
            if (n is { Type: StreamNotificationType.StreamAdded, Lease: { } lease })
            {
                readers._handlers.Add(Task.Run(() => readers.ReadAsync(lease)));
            }

            return Task.CompletedTask;
        });
        return readers;
    }

    public async ValueTask DisposeAsync()
    {
        await _consumer.DisposeAsync();
        await Task.WhenAll(_handlers).WaitAsync(TimeSpan.FromSeconds(60));
    }

    private async Task ReadAsync(StreamLease lease)
    {
        try
        {
            await foreach (var entry in lease.ReadEntriesAsync(afterId: "0-0"))
            {
                _received.AddOrUpdate(lease.DataStreamName, 1, (_, n) => n + 1);
            }
        }
        catch (OperationCanceledException)
        {
            // Ownership ended: the client stopped.
        }
    }
}

/// <summary>Redis' own count of each command (INFO commandstats), scripts' inner calls included.</summary>
internal static class CommandStats
{
    public static async Task<long> CallsAsync(IServer server, string command)
    {
        var groups = await server.InfoAsync("commandstats");
        var line = groups.SelectMany(g => g).FirstOrDefault(kv => kv.Key == "cmdstat_" + command);
        if (line.Key is null)
        {
            return 0;
        }

        var calls = line.Value.Split(',')[0];
        return long.Parse(calls["calls=".Length..], System.Globalization.CultureInfo.InvariantCulture);
    }

    public static async Task<Dictionary<string, long>> SnapshotAsync(IServer server, params string[] commands)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var command in commands)
        {
            result[command] = await CallsAsync(server, command);
        }

        return result;
    }
}
