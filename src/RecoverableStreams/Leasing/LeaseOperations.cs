using Microsoft.Extensions.Logging;
using RecoverableStreams.Checkpoints;
using RecoverableStreams.Diagnostics;
using RecoverableStreams.Notifications;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.Leasing;

/// <summary>
/// Everything done to one lease: taking it on (or dead-lettering a malformed entry), the ownership-checked writes
/// (complete, release, checkpoint, attempts, dead letter), and losing it.
/// </summary>
internal sealed class LeaseOperations : ILeaseOperations
{
    private readonly ClientContext _context;
    private readonly DataStreamReader _dataReader;

    public LeaseOperations(ClientContext context)
    {
        _context = context;
        _dataReader = new DataStreamReader(context);
    }

    public TimeProvider Time => _context.Time;

    /// <summary>
    /// Turns a freshly leased LBS entry into an owned <see cref="StreamLease"/>, or dead-letters it when it is malformed.
    /// Returns the lease with its parsed payload, or <see langword="null"/> when the entry was dead-lettered.
    /// </summary>
    public async Task<StreamLease?> AcceptAsync(AcquiredEntry entry, LeaseOrigin origin, long sentAt, long serverNowMs)
    {
        var leaseValue = _context.LeaseValuePrefix + entry.FencingToken.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var parsed = _context.Parser.Parse(entry.Fields);
        if (!parsed.IsValid)
        {
            Log.MalformedEntry(_context.Logger, entry.Id, parsed.Error!);
            var deadId = await _context.Scripts.DeadLetterAsync(entry.Id, leaseValue, parsed.Error!, _context.ConsumerId, _context.Options.DeadLetterMaxLength).ConfigureAwait(false);
            if (deadId is null)
            {
                Log.DeadLetterRefused(_context.Logger, entry.Id);
            }
            else
            {
                CoreMetrics.DeadLettered(_context.Keys.Lbs, malformed: true);
            }

            return null;
        }

        var lease = new StreamLease(
            this,
            new LbsInfo(parsed.DataStreamName!, entry.Id),
            _context.ConsumerId,
            leaseValue,
            entry.FencingToken,
            origin,
            parsed.Info,
            LocalDeadlineFrom(sentAt),
            serverNowMs + (long)_context.LeaseDuration.TotalMilliseconds);
        _context.Registry.TryAdd(lease);
        CoreMetrics.LeaseAcquired(_context.Keys.Lbs, origin);
        Log.StreamOwned(_context.Logger, lease.DataStreamName, lease.IdInLbs, origin, lease.FencingToken);
        return lease;
    }

    /// <summary>The local deadline of a lease set or renewed by a request sent at <paramref name="sentAt"/>.</summary>
    public long LocalDeadlineFrom(long sentAt) =>
        sentAt + (long)(_context.LeaseDuration.TotalSeconds * _context.Time.TimestampFrequency);

    public async Task CompleteAsync(StreamLease lease, CancellationToken cancellationToken)
    {
        EnsureStillOwned(lease, cancellationToken);
        var done = await Send(_context.Scripts.CompleteAsync(lease.IdInLbs, lease.LeaseValue)).ConfigureAwait(false);
        if (!done)
        {
            throw Lost(lease, "its lease was taken over or expired before completion");
        }

        Finish(lease);
        Log.StreamCompleted(_context.Logger, lease.DataStreamName, lease.IdInLbs);
    }

    public async Task ReleaseAsync(IReadOnlyCollection<StreamLease> leases)
    {
        if (leases.Count == 0)
        {
            return;
        }

        var released = await Send(_context.Scripts.ReleaseAsync(leases.Select(l => (l.IdInLbs, l.LeaseValue)).ToArray())).ConfigureAwait(false);
        var releasedIds = released.ToHashSet(StringComparer.Ordinal);
        foreach (var lease in leases)
        {
            Finish(lease);
            if (releasedIds.Contains(lease.IdInLbs))
            {
                Log.StreamReleased(_context.Logger, lease.DataStreamName, lease.IdInLbs);
            }
        }
    }

    public async Task<StreamCheckpoint?> GetCheckpointAsync(StreamLease lease, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var fields = await Send(_context.Database.HashGetAsync(_context.Keys.Checkpoint(lease.IdInLbs), ["pos", "state", "token"])).ConfigureAwait(false);
        if (fields[0].IsNull)
        {
            return null;
        }

        return new StreamCheckpoint(fields[0]!, fields[1].IsNull ? ReadOnlyMemory<byte>.Empty : (byte[])fields[1]!, (long)fields[2]);
    }

    public async Task CheckpointAsync(StreamLease lease, string position, ReadOnlyMemory<byte> state, CancellationToken cancellationToken)
    {
        EnsureStillOwned(lease, cancellationToken);
        var stored = await Send(_context.Scripts.CheckpointAsync(lease.IdInLbs, lease.LeaseValue, position, state, lease.FencingToken)).ConfigureAwait(false);
        if (!stored)
        {
            throw Lost(lease, "its lease was taken over or expired; the checkpoint was refused");
        }
    }

    public async Task<long> RecordFailedAttemptAsync(StreamLease lease, CancellationToken cancellationToken)
    {
        EnsureStillOwned(lease, cancellationToken);
        var attempts = await Send(_context.Scripts.RecordAttemptAsync(lease.IdInLbs, lease.LeaseValue)).ConfigureAwait(false);
        if (attempts < 0)
        {
            throw Lost(lease, "its lease was taken over or expired; the attempt was not counted");
        }

        return attempts;
    }

    public async Task<long> GetFailedAttemptsAsync(StreamLease lease, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var attempts = await Send(_context.Database.HashGetAsync(_context.Keys.Attempts, lease.IdInLbs)).ConfigureAwait(false);
        return attempts.IsNull ? 0 : (long)attempts;
    }

    public async Task DeadLetterAsync(StreamLease lease, string reason, CancellationToken cancellationToken)
    {
        EnsureStillOwned(lease, cancellationToken);
        var deadId = await Send(_context.Scripts.DeadLetterAsync(lease.IdInLbs, lease.LeaseValue, reason, _context.ConsumerId, _context.Options.DeadLetterMaxLength)).ConfigureAwait(false);
        if (deadId is null)
        {
            throw Lost(lease, "its lease was taken over or expired; it was not dead-lettered");
        }

        Finish(lease);
        CoreMetrics.DeadLettered(_context.Keys.Lbs, malformed: false);
        Log.StreamDeadLettered(_context.Logger, lease.DataStreamName, lease.IdInLbs, reason);
    }

    public IAsyncEnumerable<StreamEntry> ReadDataStreamAsync(StreamLease lease, string afterId, int batchSize, CancellationToken cancellationToken) =>
        _dataReader.ReadAsync(lease.DataStreamName, afterId, batchSize, lease.Heartbeat, cancellationToken);

    /// <summary>Ownership ended elsewhere (a peer, expiry, or the local deadline): tell the application once.</summary>
    public void Lose(StreamLease lease, string reason)
    {
        _context.Registry.Remove(lease);
        if (!lease.End())
        {
            return;
        }

        CoreMetrics.LeaseLost(_context.Keys.Lbs);
        Log.StreamDisowned(_context.Logger, lease.DataStreamName, lease.IdInLbs, reason);
        _context.Notifications.Post(Notify.Disowned(lease, reason));
        _context.CapacityFreed();
    }

    /// <summary>Ownership ended by this consumer's own choice (completed, released): no notification.</summary>
    public void Finish(StreamLease lease)
    {
        _context.Registry.Remove(lease);
        if (lease.End())
        {
            CoreMetrics.LeaseFinished(_context.Keys.Lbs);
        }
        _context.CapacityFreed();
    }

    /// <summary>True when the lease's local deadline has passed: Redis has expired it or is about to.</summary>
    public bool IsPastLocalDeadline(StreamLease lease) => _context.Time.GetTimestamp() >= lease.LocalDeadline;

    private void EnsureStillOwned(StreamLease lease, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (lease.IsOwned && IsPastLocalDeadline(lease))
        {
            Lose(lease, "its lease deadline passed without a successful renewal");
        }

        if (!lease.IsOwned)
        {
            throw new StreamOwnershipLostException($"This consumer no longer owns '{lease.DataStreamName}' ({lease.IdInLbs}).");
        }
    }

    private StreamOwnershipLostException Lost(StreamLease lease, string reason)
    {
        Lose(lease, reason);
        return new StreamOwnershipLostException($"This consumer no longer owns '{lease.DataStreamName}' ({lease.IdInLbs}): {reason}.");
    }

    /// <summary>
    /// Awaits a Redis call; a Redis failure becomes a <see cref="RecoverableStreamsException"/> that keeps it as the
    /// cause. Once sent, a call is never abandoned on cancellation: its outcome must be known.
    /// </summary>
    private static async Task<T> Send<T>(Task<T> call)
    {
        try
        {
            return await call.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
        {
            throw new RecoverableStreamsException("Redis failed: " + ex.Message, ex);
        }
    }
}
