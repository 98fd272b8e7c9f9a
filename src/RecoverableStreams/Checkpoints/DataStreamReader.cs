using StackExchange.Redis;

namespace RecoverableStreams.Checkpoints;

/// <summary>
/// Reads data streams for handlers (<see cref="StreamLease.ReadEntriesAsync"/>): owns the read slots every handler's
/// reads share, and starts each read (<see cref="DataStreamRead"/>), which sleeps at the end of its stream until
/// <see cref="DataStreamWatcher"/> wakes it (an <c>xadd</c> event, or the batched safety poll): an idle reader sends
/// nothing to Redis.
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

    /// <summary>Where readers register to be woken.</summary>
    public DataStreamWatcher DataStreams => context.DataStreams;

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
    /// </summary>
    public IAsyncEnumerable<StreamEntry> ReadAsync(StreamLease lease, string? afterId, int batchSize, CancellationToken cancellationToken) =>
        new DataStreamRead(this, lease, afterId, batchSize, cancellationToken);

    /// <summary>Takes a read slot when one is free at once.</summary>
    public bool TryTakeReadSlot() => _readSlots.Wait(0, CancellationToken.None);

    /// <summary>Waits for a read slot when all are taken, until <paramref name="cancellationToken"/> or the lease's end.</summary>
    public async Task WaitForReadSlotAsync(StreamLease lease, CancellationToken cancellationToken)
    {
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lease.OwnershipLost);
        await _readSlots.WaitAsync(either.Token).ConfigureAwait(false);
    }

    /// <summary>Gives back a slot taken by <see cref="TryTakeReadSlot"/> or <see cref="WaitForReadSlotAsync"/>.</summary>
    public void ReleaseReadSlot() => _readSlots.Release();

    /// <summary>One XRANGE of up to <paramref name="count"/> entries after <paramref name="position"/> (exclusive).</summary>
    public Task<StreamEntry[]> ReadRangeAsync(string key, string position, int count) =>
        context.Database.StreamRangeAsync(key, "(" + position, "+", count);

    /// <summary>Throws when the read must stop: its token fired or its lease ended.</summary>
    public static void ThrowIfStopped(StreamLease lease, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (lease.HasEnded)
        {
            // Read only now: a lease whose end nobody awaited holds no token source until then.
            lease.OwnershipLost.ThrowIfCancellationRequested();
        }
    }
}
