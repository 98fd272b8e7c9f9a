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

    /// <summary>
    /// Reads <paramref name="lease"/>'s data stream after <paramref name="afterId"/> (<see langword="null"/>: after its
    /// checkpoint) until <paramref name="cancellationToken"/> or the lease's <see cref="StreamLease.OwnershipLost"/> fires.
    /// A lease's end wakes its sleeping readers (<see cref="DataStreamWatcher.WakeReadersOf"/>), so a reader holds no
    /// linked token source nor registration on <see cref="StreamLease.OwnershipLost"/>: the whole read is this one iterator
    /// and its <see cref="Notifications.DataStreamWaiter"/>.
    /// </summary>
    public async IAsyncEnumerable<StreamEntry> ReadAsync(StreamLease lease, string? afterId, int batchSize, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ThrowIfStopped(lease, cancellationToken);
        var position = afterId ?? (await lease.GetCheckpointAsync(cancellationToken).ConfigureAwait(false))?.Position ?? "0-0";
        ThrowIfStopped(lease, cancellationToken);
        // Registered before the first read: an xadd between a read that found nothing and the sleep is not lost.
        var waiter = await context.DataStreams.RegisterAsync(lease.DataStreamName, lease, cancellationToken).ConfigureAwait(false);
        try
        {
            while (true)
            {
                ThrowIfStopped(lease, cancellationToken);
                StreamEntry[] entries;
                if (!_readSlots.Wait(0, CancellationToken.None))
                {
                    await WaitForReadSlotAsync(lease, cancellationToken).ConfigureAwait(false);
                }

                try
                {
                    entries = await context.Database.StreamRangeAsync(lease.DataStreamName, "(" + position, "+", batchSize).ConfigureAwait(false);
                }
                finally
                {
                    _readSlots.Release();
                }

                if (entries.Length == 0)
                {
                    // Sleeping counts as progress (HandlerStallTimeout): the watcher heartbeats the lease meanwhile.
                    // The lease's end wakes it; the check at the top of the loop then throws.
                    await waiter.WaitAsync(position, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                foreach (var entry in entries)
                {
                    position = entry.Id!;
                    lease.Heartbeat();
                    yield return entry;
                    ThrowIfStopped(lease, cancellationToken);
                }
            }
        }
        finally
        {
            context.DataStreams.Unregister(waiter);
        }
    }

    private static void ThrowIfStopped(StreamLease lease, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (lease.HasEnded)
        {
            // Read only now: a lease whose end nobody awaited holds no token source until then.
            lease.OwnershipLost.ThrowIfCancellationRequested();
        }
    }

    /// <summary>Waits for a read slot when all are taken, until <paramref name="cancellationToken"/> or the lease's end.</summary>
    private async Task WaitForReadSlotAsync(StreamLease lease, CancellationToken cancellationToken)
    {
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lease.OwnershipLost);
        await _readSlots.WaitAsync(either.Token).ConfigureAwait(false);
    }
}
