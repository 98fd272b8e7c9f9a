using Microsoft.Extensions.Logging;
using RecoverableStreams.Checkpoints;
using RecoverableStreams.Diagnostics;
using RecoverableStreams.Notifications;
using RecoverableStreams.Partitioning;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.Leasing;

/// <summary>
/// Everything done to one lease: taking it on (or dead-lettering a malformed entry), the ownership-checked writes
/// (complete, release, checkpoint, attempts, dead letter), and losing it; and ending a session, which loses every
/// lease granted to it.
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
    /// Turns a stream freshly granted to <paramref name="session"/> into an owned <see cref="StreamLease"/>, or
    /// dead-letters it when it is malformed. Returns the lease, or <see langword="null"/> when the entry was
    /// dead-lettered or the session ended while the grant was on its way (its streams go to peers).
    /// </summary>
    public async Task<StreamLease?> AcceptAsync(AcquiredEntry entry, LeaseOrigin origin, LeaseSession session, Partition partition)
    {
        var recordValue = session.RecordValue(entry.FencingToken);
        var parsed = _context.Parser.Parse(entry.Fields);
        if (!parsed.IsValid)
        {
            Log.MalformedEntry(_context.Logger, entry.Id, parsed.Error!);
            var (outcome, _) = await partition.Scripts.DeadLetterAsync(entry.Id, session.Id, recordValue, null, parsed.Error!, _context.ConsumerId, _context.Options.DeadLetterMaxLength).ConfigureAwait(false);
            if (outcome != WriteOutcome.Done)
            {
                Log.DeadLetterRefused(_context.Logger, entry.Id);
            }
            else
            {
                CoreMetrics.DeadLettered(partition.Keys.Lbs, malformed: true);
            }

            return null;
        }

        var lease = new StreamLease(
            this,
            new LbsInfo(parsed.DataStreamName!, _context.Layout.IdOf(partition.Index, entry.Id)),
            _context.ConsumerId,
            session,
            entry.FencingToken,
            origin,
            parsed.Info,
            partition,
            entry.Id);
        if (session.IsEnded)
        {
            // Granted to a session this process has given up: the grant dies with it.
            lease.End();
            return null;
        }

        if (_context.Registry.AddOrReplace(lease) is { } stale)
        {
            // The same stream granted again while an older lease of it was still registered (its record was lost or
            // repaired): the old lease is over, and only the new one is renewed, acted on and lost with its session.
            Lose(stale, "the stream was granted again to this consumer with a newer fencing token");
        }

        CoreMetrics.LeaseAcquired(partition.Keys.Lbs, origin);
        Log.StreamOwned(_context.Logger, lease.DataStreamName, lease.IdInLbs, origin, lease.FencingToken);
        return lease;
    }

    /// <summary>The local deadline of a session opened or renewed by a request sent at <paramref name="sentAt"/>.</summary>
    public long LocalDeadlineFrom(long sentAt) =>
        sentAt + (long)(_context.LeaseDuration.TotalSeconds * _context.Time.TimestampFrequency);

    public async Task CompleteAsync(StreamLease lease, CancellationToken cancellationToken)
    {
        EnsureStillOwned(lease, cancellationToken);
        var outcome = await Send(lease.Partition.Scripts.CompleteAsync(lease.EntryId, lease.Session.Id, lease.LeaseValue, lease.DataStreamName)).ConfigureAwait(false);
        ThrowIfRefused(lease, outcome, "before completion");
        Finish(lease);
        Log.StreamCompleted(_context.Logger, lease.DataStreamName, lease.IdInLbs);
    }

    /// <summary>Releases streams for peers, in pages of at most <see cref="StreamScripts.MaxItemsPerCall"/> per session.</summary>
    public async Task ReleaseAsync(IReadOnlyCollection<StreamLease> leases)
    {
        foreach (var group in leases.GroupBy(l => (l.Session, l.Partition)))
        {
            foreach (var page in group.Chunk(StreamScripts.MaxItemsPerCall))
            {
                var released = await Send(ReleaseInRedisAsync(group.Key.Session, group.Key.Partition, page)).ConfigureAwait(false);
                foreach (var lease in page)
                {
                    Finish(lease);
                    if (released.Contains(lease.EntryId))
                    {
                        Log.StreamReleased(_context.Logger, lease.DataStreamName, lease.IdInLbs);
                    }
                }
            }
        }
    }

    /// <summary>Releases exactly this lease; refused (and the lease lost) when Redis holds another one for its entry.</summary>
    public async Task ReleaseAsync(StreamLease lease, CancellationToken cancellationToken)
    {
        EnsureStillOwned(lease, cancellationToken);
        var released = await Send(lease.Partition.Scripts.ReleaseAsync(lease.Session.Id, [(lease.EntryId, lease.LeaseValue)])).ConfigureAwait(false);
        if (released.Count == 0)
        {
            const string reason = "its ownership record names another owner or its session expired; it was not released";
            Lose(lease, reason);
            throw new StreamOwnershipLostException($"This consumer no longer owns '{lease.DataStreamName}' ({lease.IdInLbs}): {reason}.");
        }

        Finish(lease);
        Log.StreamReleased(_context.Logger, lease.DataStreamName, lease.IdInLbs);
    }

    /// <summary>
    /// Hands streams over to peers (rebalancing): each lease ends here first (<see cref="StreamLease.OwnershipLost"/>
    /// fires, the application is told), then its record is released in Redis, so a peer can claim it only after this
    /// consumer has stopped. Returns the leases whose release did not reach Redis: still recorded for this session,
    /// the caller releases them again (the release is ownership-checked, so a late retry is harmless).
    /// </summary>
    public async Task<IReadOnlyList<StreamLease>> HandOverAsync(IReadOnlyCollection<StreamLease> leases, string reason)
    {
        foreach (var lease in leases)
        {
            Lose(lease, reason);
        }

        return await ReleaseEndedAsync(leases).ConfigureAwait(false);
    }

    /// <summary>Releases in Redis leases that have already ended here; returns those whose call failed.</summary>
    public async Task<IReadOnlyList<StreamLease>> ReleaseEndedAsync(IReadOnlyCollection<StreamLease> leases)
    {
        var failed = new List<StreamLease>();
        foreach (var group in leases.GroupBy(l => (l.Session, l.Partition)))
        {
            foreach (var page in group.Chunk(StreamScripts.MaxItemsPerCall))
            {
                try
                {
                    var released = await ReleaseInRedisAsync(group.Key.Session, group.Key.Partition, page).ConfigureAwait(false);
                    foreach (var lease in page.Where(l => released.Contains(l.EntryId)))
                    {
                        Log.StreamReleased(_context.Logger, lease.DataStreamName, lease.IdInLbs);
                    }
                }
                catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
                {
                    Log.HandOverReleaseFailed(_context.Logger, page.Length, ex);
                    failed.AddRange(page);
                }
            }
        }

        return failed;
    }

    private static async Task<HashSet<string>> ReleaseInRedisAsync(LeaseSession session, Partition partition, StreamLease[] page)
    {
        var released = await partition.Scripts.ReleaseAsync(session.Id, page.Select(l => (l.EntryId, l.LeaseValue)).ToArray()).ConfigureAwait(false);
        return released.ToHashSet(StringComparer.Ordinal);
    }

    public async Task<StreamCheckpoint?> GetCheckpointAsync(StreamLease lease, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var fields = await Send(_context.Database.HashGetAsync(lease.Partition.Keys.Checkpoint(lease.EntryId), ["pos", "state", "token"])).ConfigureAwait(false);
        if (fields[0].IsNull)
        {
            return null;
        }

        return new StreamCheckpoint(fields[0]!, fields[1].IsNull ? ReadOnlyMemory<byte>.Empty : (byte[])fields[1]!, (long)fields[2]);
    }

    public async Task CheckpointAsync(StreamLease lease, string position, ReadOnlyMemory<byte> state, CancellationToken cancellationToken)
    {
        EnsureStillOwned(lease, cancellationToken);
        var outcome = await Send(lease.Partition.Scripts.CheckpointAsync(lease.EntryId, lease.Session.Id, lease.LeaseValue, position, state, lease.FencingToken)).ConfigureAwait(false);
        ThrowIfRefused(lease, outcome, "the checkpoint was refused");
    }

    public async Task<long> RecordFailedAttemptAsync(StreamLease lease, CancellationToken cancellationToken)
    {
        EnsureStillOwned(lease, cancellationToken);
        var (outcome, attempts) = await Send(lease.Partition.Scripts.RecordAttemptAsync(lease.EntryId, lease.Session.Id, lease.LeaseValue)).ConfigureAwait(false);
        ThrowIfRefused(lease, outcome, "the attempt was not counted");
        return attempts;
    }

    public async Task<long> GetFailedAttemptsAsync(StreamLease lease, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var attempts = await Send(_context.Database.HashGetAsync(lease.Partition.Keys.Attempts, lease.EntryId)).ConfigureAwait(false);
        return attempts.IsNull ? 0 : (long)attempts;
    }

    public async Task DeadLetterAsync(StreamLease lease, string reason, CancellationToken cancellationToken)
    {
        EnsureStillOwned(lease, cancellationToken);
        var (outcome, _) = await Send(lease.Partition.Scripts.DeadLetterAsync(lease.EntryId, lease.Session.Id, lease.LeaseValue, lease.DataStreamName, reason, _context.ConsumerId, _context.Options.DeadLetterMaxLength)).ConfigureAwait(false);
        ThrowIfRefused(lease, outcome, "it was not dead-lettered");
        Finish(lease);
        CoreMetrics.DeadLettered(lease.Partition.Keys.Lbs, malformed: false);
        Log.StreamDeadLettered(_context.Logger, lease.DataStreamName, lease.IdInLbs, reason);
    }

    public IAsyncEnumerable<StreamEntry> ReadDataStreamAsync(StreamLease lease, string afterId, int batchSize, CancellationToken cancellationToken) =>
        _dataReader.ReadAsync(lease.DataStreamName, afterId, batchSize, lease.Heartbeat, cancellationToken);

    /// <summary>Ownership ended elsewhere (a peer, the session's end): tell the application once.</summary>
    public void Lose(StreamLease lease, string reason)
    {
        _context.Registry.Remove(lease);
        if (!lease.End())
        {
            return;
        }

        CoreMetrics.LeaseLost(lease.Partition.Keys.Lbs);
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
            CoreMetrics.LeaseFinished(lease.Partition.Keys.Lbs);
        }

        _context.CapacityFreed();
    }

    /// <summary>
    /// Ends a session once (its deadline passed locally, or Redis refused it): every lease granted to it is lost, and
    /// the renewer opens a new session.
    /// </summary>
    public void EndSession(LeaseSession session, string reason)
    {
        if (!session.End())
        {
            return;
        }

        var leases = _context.Registry.Snapshot().Where(l => ReferenceEquals(l.Session, session)).ToArray();
        Log.SessionEnded(_context.Logger, session.Id, reason, leases.Length);
        foreach (var lease in leases)
        {
            Lose(lease, reason);
        }

        _context.RenewerWake.Set();
    }

    private void EnsureStillOwned(StreamLease lease, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!lease.HasEnded && lease.Session.IsPastLocalDeadline(_context.Time))
        {
            EndSession(lease.Session, "the session's deadline passed without a successful renewal");
        }

        if (!lease.IsOwned)
        {
            throw new StreamOwnershipLostException($"This consumer no longer owns '{lease.DataStreamName}' ({lease.IdInLbs}).");
        }
    }

    private void ThrowIfRefused(StreamLease lease, WriteOutcome outcome, string what)
    {
        switch (outcome)
        {
            case WriteOutcome.Done:
                return;
            case WriteOutcome.SessionDead:
                const string sessionReason = "the session expired in Redis";
                EndSession(lease.Session, sessionReason);
                throw new StreamOwnershipLostException($"This consumer no longer owns '{lease.DataStreamName}' ({lease.IdInLbs}): {sessionReason}; {what}.");
            default:
                var reason = "its ownership record names another owner; " + what;
                Lose(lease, reason);
                throw new StreamOwnershipLostException($"This consumer no longer owns '{lease.DataStreamName}' ({lease.IdInLbs}): {reason}.");
        }
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
