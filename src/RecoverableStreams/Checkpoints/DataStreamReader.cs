using System.Runtime.CompilerServices;
using StackExchange.Redis;

namespace RecoverableStreams.Checkpoints;

/// <summary>
/// Reads a data stream in order after a position and sleeps at its end until <see cref="DataStreamWatcher"/> wakes it
/// (an <c>xadd</c> event, or the batched safety poll): an idle reader sends nothing to Redis.
/// </summary>
// The semaphore holds no OS handle (AvailableWaitHandle is never read) and lives as long as the client.
#pragma warning disable CA1001
internal sealed class DataStreamReader(ClientContext context)
#pragma warning restore CA1001
{
    /// <summary>
    /// Reads of all handlers in flight at once. Without a bound, 100,000 handlers starting (or woken) together put
    /// 100,000 XRANGE ahead of the session's renewal on the shared connection, and as many continuations ahead of it
    /// on the thread pool: measured, a renewal of 2 s leases came too late and every lease ended. A few hundred
    /// keep the connection busy and the queue ahead of a renewal short.
    /// </summary>
    private const int MaxReadsInFlight = 256;

    private readonly SemaphoreSlim _readSlots = new(MaxReadsInFlight, MaxReadsInFlight);

    /// <summary>Runs one read of a handler (a checkpoint read) in a read slot.</summary>
    public async Task<T> InReadSlotAsync<T>(Func<Task<T>> read, CancellationToken cancellationToken)
    {
        await _readSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await read().ConfigureAwait(false);
        }
        finally
        {
            _readSlots.Release();
        }
    }

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
                StreamEntry[] entries;
                await _readSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    entries = await context.Database.StreamRangeAsync(dataStreamName, "(" + position, "+", batchSize).ConfigureAwait(false);
                }
                finally
                {
                    _readSlots.Release();
                }

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
