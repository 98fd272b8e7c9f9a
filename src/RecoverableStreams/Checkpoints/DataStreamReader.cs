using System.Runtime.CompilerServices;
using StackExchange.Redis;

namespace RecoverableStreams.Checkpoints;

/// <summary>
/// Reads a data stream in order after a position and sleeps at its end until <see cref="DataStreamWatcher"/> wakes it
/// (an <c>xadd</c> event, or the batched safety poll): an idle reader sends nothing to Redis.
/// </summary>
internal sealed class DataStreamReader(ClientContext context)
{
    public async IAsyncEnumerable<StreamEntry> ReadAsync(string dataStreamName, string afterId, int batchSize, Action? waiting, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var watcher = context.DataStreams;
        // Registered before the first read: an xadd between a read that found nothing and the sleep is not lost.
        var waiter = await watcher.RegisterAsync(dataStreamName, waiting, cancellationToken).ConfigureAwait(false);
        try
        {
            var position = afterId;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var entries = await context.Database.StreamRangeAsync(dataStreamName, "(" + position, "+", batchSize).ConfigureAwait(false);
                if (entries.Length == 0)
                {
                    // Sleeping counts as progress (HandlerStallTimeout): the watcher heartbeats the lease meanwhile.
                    await waiter.WaitAsync(position, context.Time, cancellationToken).ConfigureAwait(false);
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
            watcher.Unregister(waiter);
        }
    }
}
