using RecoverableStreams.Diagnostics;
using RecoverableStreams.Leasing;
using RecoverableStreams.Partitioning;
using StackExchange.Redis;

namespace RecoverableStreams.Notifications;

/// <summary>
/// The early triggers: <c>released</c>/<c>added</c>/<c>closed</c>/<c>repaired</c> on the events channel and the
/// keyspace <c>xadd</c> event of the LBS. Each only wakes a loop early; losing one costs time, never work. Expiry is
/// found by deadline (the scheduler's timer), never through keyspace <c>expired</c> events. And <c>forced</c>, an
/// operator's force-release: the lease it names ends here at once (<see cref="LeaseEndReason.ForceReleased"/>); lost,
/// the lease's next write learns it.
/// </summary>
internal sealed class RedisEventListener(ClientContext context, LeaseOperations leases)
{
    private readonly List<(RedisChannel Channel, Action<RedisChannel, RedisValue> Handler)> _subscriptions = [];

    public async Task StartAsync()
    {
        // One events channel and one LBS key per partition; each wakes only its own partition's loops.
        foreach (var partition in context.Partitions)
        {
            var events = RedisChannel.Literal(partition.Keys.Events);
            var lbsAdded = RedisChannel.KeySpaceSingleKey(partition.Keys.Lbs, context.DatabaseNumber);
            await SubscribeAsync(events, (channel, message) => OnEvent(partition, message)).ConfigureAwait(false);
            await SubscribeAsync(lbsAdded, (channel, message) => OnLbsKeyEvent(partition, channel, message)).ConfigureAwait(false);
        }
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

    private void OnEvent(Partition partition, RedisValue message)
    {
        var text = (string?)message ?? "";
        if (text.StartsWith("forced\n", StringComparison.Ordinal))
        {
            OnForced(partition, text);
        }
        else if (text.StartsWith("released ", StringComparison.Ordinal))
        {
            RememberReleased(partition, text["released ".Length..]);
            partition.SchedulerWake.Set();
        }
        else if (text == "added")
        {
            partition.ReaderWake.Set();
        }
        else if (text == "closed" || text.StartsWith("closed ", StringComparison.Ordinal))
        {
            // A peer's shutdown: its session is gone or dead, and the streams it left (named after "closed ") wait for
            // an owner; announced as released, not expired. Both are known before the scheduler wakes.
            if (text.Length > "closed ".Length)
            {
                RememberReleased(partition, text["closed ".Length..]);
            }

            partition.OnSessionClosed(context.Time.GetTimestamp());
            partition.SchedulerWake.Set();
        }
        else
        {
            partition.SchedulerWake.Set();
        }
    }

    /// <summary>The ids a wake-up names ("id id ..."): announced as released, not expired, when this consumer lists them.</summary>
    private static void RememberReleased(Partition partition, string ids)
    {
        foreach (var id in ids.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            partition.RecentlyReleased.Add(id);
        }
    }

    /// <summary>Ends the leases an operator force-released: only the exact lease (session and token) the record named.</summary>
    private void OnForced(Partition partition, string text)
    {
        foreach (var line in text.Split('\n').AsSpan(1))
        {
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            if (space <= 0)
            {
                continue;
            }

            var idInLbs = context.Layout.IdOf(partition.Index, line[..space]);
            if (context.Registry.TryGet(idInLbs, out var lease) && lease.IsRecord(line[(space + 1)..]))
            {
                Log.LeaseForceReleased(context.Logger, lease.DataStreamName, lease.IdInLbs);
                leases.End(lease, LeaseEndReason.ForceReleased, "an operator force-released it");
            }
        }
    }

    private static void OnLbsKeyEvent(Partition partition, RedisChannel channel, RedisValue message)
    {
        // Only a new entry matters; this library's own XACK/XDEL/XCLAIM on the LBS raise events too.
        if (IsEvent(channel, message, KeyNotificationType.XAdd))
        {
            partition.ReaderWake.Set();
        }
    }

    internal static bool IsEvent(RedisChannel channel, RedisValue message, KeyNotificationType type) =>
        KeyNotification.TryParse(in channel, in message, out var notification) && notification.Type == type;
}
