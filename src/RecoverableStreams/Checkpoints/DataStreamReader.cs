using System.Runtime.CompilerServices;
using RecoverableStreams.Notifications;
using StackExchange.Redis;

namespace RecoverableStreams.Checkpoints;

/// <summary>
/// Reads a data stream in order after a position and waits at its end: woken by the keyspace <c>xadd</c> event of that
/// stream when notifications are on, else by <see cref="RecoverableStreamOptions.PollInterval"/>.
/// </summary>
internal sealed class DataStreamReader(ClientContext context)
{
    public async IAsyncEnumerable<StreamEntry> ReadAsync(string dataStreamName, string afterId, int batchSize, Action? waiting, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var wake = new WakeUpSignal();
        var channel = RedisChannel.KeySpaceSingleKey(dataStreamName, context.DatabaseNumber);
        var subscriber = context.Redis.GetSubscriber();
        Action<RedisChannel, RedisValue> onEvent = (_, _) => wake.Set();
        var subscribed = false;
        try
        {
            try
            {
                await subscriber.SubscribeAsync(channel, onEvent).ConfigureAwait(false);
                subscribed = true;
            }
            catch (RedisException)
            {
                // Without the subscription the reader still polls; nothing is missed, only later.
            }

            var position = afterId;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var entries = await context.Database.StreamRangeAsync(dataStreamName, "(" + position, "+", batchSize).ConfigureAwait(false);
                if (entries.Length == 0)
                {
                    // A handler awaiting new entries is reading, not stalled (HandlerStallTimeout): say so on each poll.
                    waiting?.Invoke();
                    await wake.WaitAsync(context.Options.PollInterval, context.Time, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                foreach (var entry in entries)
                {
                    position = entry.Id!;
                    yield return entry;
                    cancellationToken.ThrowIfCancellationRequested();
                }
            }
        }
        finally
        {
            if (subscribed)
            {
                await subscriber.UnsubscribeAsync(channel, onEvent).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }
}
