using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Infrastructure;

/// <summary>A started <see cref="RecoverableStreamClient"/> whose notifications are collected in the background.</summary>
public sealed class TestConsumer : IAsyncDisposable
{
    private readonly ConcurrentQueue<StreamNotification> _notifications = new();
    private Task _reading = Task.CompletedTask;

    private TestConsumer(RecoverableStreamClient client) => Client = client;

    public RecoverableStreamClient Client { get; }

    public IReadOnlyList<StreamNotification> Notifications => _notifications.ToArray();

    public IReadOnlyList<StreamNotification> Of(StreamNotificationType type) => _notifications.Where(n => n.Type == type).ToArray();

    public IReadOnlyList<StreamLease> Owned => Client.OwnedStreams;

    /// <summary>Completes once the notification channel has completed.</summary>
    public Task ChannelCompleted => _reading;

    public static async Task<TestConsumer> StartAsync(IConnectionMultiplexer redis, RecoverableStreamOptions options, ILoggerFactory? loggerFactory = null, Func<StreamNotification, Task>? onNotification = null, TimeProvider? timeProvider = null)
    {
        var consumer = new TestConsumer(new RecoverableStreamClient(redis, options, loggerFactory, timeProvider));
        var reader = await consumer.Client.InitAsync();
        consumer._reading = Task.Run(async () =>
        {
            await foreach (var notification in reader.ReadAllAsync())
            {
                consumer._notifications.Enqueue(notification);
                if (onNotification is not null)
                {
                    await onNotification(notification);
                }
            }
        });
        return consumer;
    }

    /// <summary>Stops like a crashed process: nothing is released; leases expire in Redis.</summary>
    public Task CrashAsync() => Client.CrashAsync();

    public async ValueTask DisposeAsync() => await Client.DisposeAsync();
}
