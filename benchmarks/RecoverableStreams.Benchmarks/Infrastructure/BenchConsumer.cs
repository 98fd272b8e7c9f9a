using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace RecoverableStreams.Benchmarks.Infrastructure;

/// <summary>
/// A started <see cref="RecoverableStreamClient"/> whose notification channel is drained in the background; records
/// when each stream was added (<see cref="Clock.NowMs"/>) and counts the other notification types. A row that measures
/// the worker's memory per owned stream starts it with <c>recordAdded: false</c>: the per-stream records are the
/// benchmark's, not the library's.
/// </summary>
internal sealed class BenchConsumer : IAsyncDisposable
{
    private readonly ConcurrentDictionary<StreamNotificationType, int> _counts = new();
    private readonly ConcurrentQueue<(string IdInLbs, double AtMs)> _added = new();
    private readonly ConcurrentDictionary<string, double> _firstAddedByName = new(StringComparer.Ordinal);
    private readonly bool _recordAdded;
    private Task _reading = Task.CompletedTask;

    private BenchConsumer(RecoverableStreamClient client, bool recordAdded)
    {
        Client = client;
        _recordAdded = recordAdded;
    }

    public RecoverableStreamClient Client { get; }

    /// <summary>Where the clients log; set from <c>--log</c> (warnings and errors to the console), else nowhere.</summary>
    public static ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>Called for every notification, on the draining task.</summary>
    public Action<StreamNotification, double>? OnNotification { get; set; }

    /// <summary>Every <see cref="StreamNotificationType.StreamAdded"/> and when it came (empty without <c>recordAdded</c>).</summary>
    public IReadOnlyCollection<(string IdInLbs, double AtMs)> Added => _added;

    /// <summary>When each data stream was first added here (<see cref="Clock.NowMs"/>), by data stream name (empty without <c>recordAdded</c>).</summary>
    public IReadOnlyDictionary<string, double> FirstAddedByName => _firstAddedByName;

    public int Count(StreamNotificationType type) => _counts.GetValueOrDefault(type);

    /// <param name="redis">The connection.</param>
    /// <param name="options">The client's options.</param>
    /// <param name="onNotification">Called for every notification.</param>
    /// <param name="recordAdded">Keep <see cref="Added"/> and <see cref="FirstAddedByName"/> (a few dozen bytes per added stream).</param>
    public static async Task<BenchConsumer> StartAsync(IConnectionMultiplexer redis, RecoverableStreamOptions options, Action<StreamNotification, double>? onNotification = null, bool recordAdded = true)
    {
        var consumer = new BenchConsumer(new RecoverableStreamClient(redis, options, LoggerFactory), recordAdded) { OnNotification = onNotification };
        var reader = await consumer.Client.InitAsync();
        consumer._reading = Task.Run(async () =>
        {
            await foreach (var notification in reader.ReadAllAsync())
            {
                var at = Clock.NowMs;
                consumer._counts.AddOrUpdate(notification.Type, 1, (_, n) => n + 1);
                if (consumer._recordAdded && notification.Type == StreamNotificationType.StreamAdded)
                {
                    consumer._added.Enqueue((notification.Payload.IdInLbs, at));
                    consumer._firstAddedByName.TryAdd(notification.Payload.DataStreamName, at);
                }

                consumer.OnNotification?.Invoke(notification, at);
            }
        });
        return consumer;
    }

    public async Task CrashAsync()
    {
        await Client.CrashAsync();
        await _reading;
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await _reading;
    }
}
