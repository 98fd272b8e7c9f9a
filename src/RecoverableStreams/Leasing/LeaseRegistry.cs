using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace RecoverableStreams.Leasing;

/// <summary>
/// The leases this consumer holds, and the gate that keeps it within <see cref="RecoverableStreamOptions.MaxConcurrentStreams"/>:
/// the reader, the scheduler and explicit claims acquire one at a time, each for at most the free slots it saw.
/// </summary>
[SuppressMessage("Design", "CA1001", Justification = "A SemaphoreSlim whose wait handle is never used holds nothing to dispose.")]
internal sealed class LeaseRegistry
{
    private readonly ConcurrentDictionary<string, StreamLease> _byId = new(StringComparer.Ordinal);
    // How many registered leases each session holds in each partition, kept as leases come and go: each renewal compares
    // them with Redis' counts (every grant accounted for), which must not cost a pass over 100,000 leases each time.
    private readonly ConditionalWeakTable<LeaseSession, int[]> _heldBySession = new();
    private readonly int _partitions;
    private readonly SemaphoreSlim _acquisitionGate = new(1, 1);
    private readonly Lock _reservations = new();
    private bool _acquisitionStopped;
    private int _reserved;
    private int _outstanding;
    private TaskCompletionSource? _drained;

    public LeaseRegistry(int capacity, int partitions)
    {
        Capacity = capacity;
        _partitions = partitions;
    }

    public int Capacity { get; }

    public int Count => _byId.Count;

    /// <summary>No free slots once acquisition has stopped (graceful shutdown): the reader and the scheduler take nothing more.</summary>
    public int FreeSlots => Volatile.Read(ref _acquisitionStopped) ? 0 : Math.Max(0, Capacity - _byId.Count - Volatile.Read(ref _reserved));

    public bool AcquisitionStopped => Volatile.Read(ref _acquisitionStopped);

    /// <summary>
    /// Stops acquisitions; when this returns, none is in flight (each one runs inside the gate or holds a
    /// <see cref="SlotReservation"/>, which this waits for).
    /// </summary>
    public async Task StopAcquisitionAsync(CancellationToken cancellationToken)
    {
        Volatile.Write(ref _acquisitionStopped, true);
        using (await EnterAcquisitionAsync(cancellationToken).ConfigureAwait(false))
        {
        }

        Task drained;
        lock (_reservations)
        {
            if (_outstanding == 0)
            {
                return;
            }

            _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            drained = _drained.Task;
        }

        await drained.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reserves up to <paramref name="max"/> free slots for the rest of an acquisition whose round trips run outside
    /// the gate (the failover path claims its share in one pipelined flight): other acquirers see the slots as taken
    /// until the reservation is disposed, so no slot is filled twice, and nobody waits on the gate for Redis. Call it
    /// while holding the gate (<see cref="EnterAcquisitionAsync"/>).
    /// </summary>
    public SlotReservation Reserve(int max)
    {
        var count = Math.Max(0, Math.Min(max, FreeSlots));
        lock (_reservations)
        {
            _reserved += count;
            _outstanding++;
        }

        return new SlotReservation(this, count);
    }

    private void Return(int count)
    {
        TaskCompletionSource? drained = null;
        lock (_reservations)
        {
            _reserved -= count;
            _outstanding--;
            if (_outstanding == 0)
            {
                drained = _drained;
                _drained = null;
            }
        }

        drained?.TrySetResult();
    }

    /// <summary>Serializes acquisitions so that two acquirers never both fill the same free slot.</summary>
    public async Task<IDisposable> EnterAcquisitionAsync(CancellationToken cancellationToken)
    {
        await _acquisitionGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new Releaser(_acquisitionGate);
    }

    /// <summary>
    /// Registers a freshly granted lease. Returns the lease it replaced, when one for the same id was still registered:
    /// a stale lease, since Redis granted the stream again.
    /// </summary>
    public StreamLease? AddOrReplace(StreamLease lease)
    {
        // The factories may run more than once (a lost race retries): the last one run says what happened.
        StreamLease? replaced = null;
        var added = true;
        _byId.AddOrUpdate(lease.IdInLbs, _ =>
        {
            replaced = null;
            added = true;
            return lease;
        }, (_, old) =>
        {
            replaced = ReferenceEquals(old, lease) ? null : old;
            added = replaced is not null;
            return lease;
        });
        if (added)
        {
            CountHeld(lease, +1);
        }

        if (replaced is not null)
        {
            CountHeld(replaced, -1);
        }

        return replaced;
    }

    /// <summary>How many registered leases <paramref name="session"/> holds in each partition (a copy; index = partition).</summary>
    public int[] HeldBy(LeaseSession session)
    {
        var held = new int[_partitions];
        if (_heldBySession.TryGetValue(session, out var counts))
        {
            for (var i = 0; i < held.Length; i++)
            {
                held[i] = Volatile.Read(ref counts[i]);
            }
        }

        return held;
    }

    public bool TryGet(string idInLbs, out StreamLease lease) => _byId.TryGetValue(idInLbs, out lease!);

    /// <summary>Removes exactly this lease (not a newer one for the same id).</summary>
    public bool Remove(StreamLease lease)
    {
        if (!_byId.TryRemove(new KeyValuePair<string, StreamLease>(lease.IdInLbs, lease)))
        {
            return false;
        }

        CountHeld(lease, -1);
        return true;
    }

    public IReadOnlyList<StreamLease> Snapshot() => _byId.Values.ToArray();

    private void CountHeld(StreamLease lease, int delta)
    {
        var counts = _heldBySession.GetValue(lease.Session, _ => new int[_partitions]);
        Interlocked.Add(ref counts[lease.Partition.Index], delta);
    }

    /// <summary>Finds the one owned lease of a data stream.</summary>
    /// <exception cref="StreamOwnershipLostException">No owned lease for that data stream.</exception>
    /// <exception cref="InvalidOperationException">Two owned entries announce it: the caller must say which.</exception>
    public StreamLease FindByDataStream(string dataStreamName)
    {
        StreamLease? found = null;
        foreach (var lease in _byId.Values)
        {
            if (!string.Equals(lease.DataStreamName, dataStreamName, StringComparison.Ordinal))
            {
                continue;
            }

            if (found is not null)
            {
                throw new InvalidOperationException(
                    $"This consumer owns '{dataStreamName}' through more than one LBS entry ({found.IdInLbs}, {lease.IdInLbs}); pass the LbsInfo to say which.");
            }

            found = lease;
        }

        return found ?? throw new StreamOwnershipLostException($"This consumer does not own data stream '{dataStreamName}' (never owned, completed, released or lost).");
    }

    /// <summary>Free slots held for one acquisition; disposing returns them (leases registered meanwhile fill them).</summary>
    internal sealed class SlotReservation : IDisposable
    {
        private LeaseRegistry? _registry;

        public SlotReservation(LeaseRegistry registry, int count)
        {
            _registry = registry;
            Count = count;
        }

        /// <summary>How many slots were reserved.</summary>
        public int Count { get; }

        public void Dispose() => Interlocked.Exchange(ref _registry, null)?.Return(Count);
    }

    private sealed class Releaser(SemaphoreSlim gate) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                gate.Release();
            }
        }
    }
}
