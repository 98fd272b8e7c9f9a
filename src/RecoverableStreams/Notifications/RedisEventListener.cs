using RecoverableStreams.Diagnostics;
using StackExchange.Redis;

namespace RecoverableStreams.Notifications;

/// <summary>
/// The early triggers: <c>released</c>/<c>added</c>/<c>closed</c>/<c>repaired</c> on the events channel and the
/// keyspace <c>xadd</c> event of the LBS. Each only wakes a loop early; losing one costs time, never work. Expiry is
/// found by deadline (the scheduler's timer), never through keyspace <c>expired</c> events.
/// </summary>
internal sealed class RedisEventListener(ClientContext context)
{
    private readonly List<(RedisChannel Channel, Action<RedisChannel, RedisValue> Handler)> _subscriptions = [];

    public async Task StartAsync()
    {
        var events = RedisChannel.Literal(context.Keys.Events);
        var lbsAdded = RedisChannel.KeySpaceSingleKey(context.Keys.Lbs, context.DatabaseNumber);

        await SubscribeAsync(events, OnEvent).ConfigureAwait(false);
        await SubscribeAsync(lbsAdded, OnLbsKeyEvent).ConfigureAwait(false);
    }

    public async Task StopAsync()
    {
        var subscriber = context.Redis.GetSubscriber();
        foreach (var (channel, handler) in _subscriptions)
        {
            try
            {
                await subscriber.UnsubscribeAsync(channel, handler).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
            {
                Log.UnsubscribeFailed(context.Logger, ex);
            }
        }

        _subscriptions.Clear();
    }

    private async Task SubscribeAsync(RedisChannel channel, Action<RedisChannel, RedisValue> handler)
    {
        await context.Redis.GetSubscriber().SubscribeAsync(channel, handler).ConfigureAwait(false);
        _subscriptions.Add((channel, handler));
    }

    private void OnEvent(RedisChannel channel, RedisValue message)
    {
        var text = (string?)message ?? "";
        if (text.StartsWith("released ", StringComparison.Ordinal))
        {
            foreach (var id in text["released ".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                context.RecentlyReleased.Add(id);
            }

            context.SchedulerWake.Set();
        }
        else if (text == "added")
        {
            context.ReaderWake.Set();
        }
        else
        {
            context.SchedulerWake.Set();
        }
    }

    private void OnLbsKeyEvent(RedisChannel channel, RedisValue message)
    {
        // Only a new entry matters; this library's own XACK/XDEL/XCLAIM on the LBS raise events too.
        if (IsEvent(channel, message, KeyNotificationType.XAdd))
        {
            context.ReaderWake.Set();
        }
    }

    internal static bool IsEvent(RedisChannel channel, RedisValue message, KeyNotificationType type) =>
        KeyNotification.TryParse(in channel, in message, out var notification) && notification.Type == type;
}
