using Microsoft.Extensions.Logging;
using RecoverableStreams.Checkpoints;
using RecoverableStreams.Diagnostics;
using RecoverableStreams.Notifications;
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
    public async Task<StreamLease?> AcceptAsync(AcquiredEntry entry, LeaseOrigin origin, LeaseSession session)
    {
        var recordValue = session.RecordValue(entry.FencingToken);
        var parsed = _context.Parser.Parse(entry.Fields);
        if (!parsed.IsValid)
        {
            Log.MalformedEntry(_context.Logger, entry.Id, parsed.Error!);
            var (outcome, _) = await _context.Scripts.DeadLetterAsync(entry.Id, session.Id, recordValue, null, parsed.Error!, _context.ConsumerId, _context.Options.DeadLetterMaxLength).ConfigureAwait(false);
            if (outcome != WriteOutcome.Done)
            {
                Log.DeadLetterRefused(_context.Logger, entry.Id);
            }

            return null;
        }

        var lease = new StreamLease(
            this,
            new LbsInfo(parsed.DataStreamName!, entry.Id),
            _context.ConsumerId,
            session,
            entry.FencingToken,
            origin,
            parsed.Info);
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

        Log.StreamOwned(_context.Logger, lease.DataStreamName, lease.IdInLbs, origin, lease.FencingToken);
        return lease;
    }

    /// <summary>The local deadline of a session opened or renewed by a request sent at <paramref name="sentAt"/>.</summary>
    public long LocalDeadlineFrom(long sentAt) =>
        sentAt + (long)(_context.LeaseDuration.TotalSeconds * _context.Time.TimestampFrequency);

    public async Task CompleteAsync(StreamLease lease, CancellationToken cancellationToken)
    {
        EnsureStillOwned(lease, cancellationToken);
        var outcome = await Send(_context.Scripts.CompleteAsync(lease.IdInLbs, lease.Session.Id, lease.LeaseValue, lease.DataStreamName)).ConfigureAwait(false);
        ThrowIfRefused(lease, outcome, "before completion");
        Finish(lease);
        Log.StreamCompleted(_context.Logger, lease.DataStreamName, lease.IdInLbs);
    }

    /// <summary>Releases streams for peers, in pages of at most <see cref="StreamScripts.MaxItemsPerCall"/> per session.</summary>
    public async Task ReleaseAsync(IReadOnlyCollection<StreamLease> leases)
    {
        foreach (var bySession in leases.GroupBy(l => l.Session))
        {
            foreach (var page in bySession.Chunk(StreamScripts.MaxItemsPerCall))
            {
                var released = await Send(_context.Scripts.ReleaseAsync(bySession.Key.Id, page.Select(l => (l.IdInLbs, l.LeaseValue)).ToArray())).ConfigureAwait(false);
                var releasedIds = released.ToHashSet(StringComparer.Ordinal);
                foreach (var lease in page)
                {
                    Finish(lease);
                    if (releasedIds.Contains(lease.IdInLbs))
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
        var released = await Send(_context.Scripts.ReleaseAsync(lease.Session.Id, [(lease.IdInLbs, lease.LeaseValue)])).ConfigureAwait(false);
        if (released.Count == 0)
        {
            const string reason = "its ownership record names another owner, or its session expired, before the release";
            Lose(lease, reason);
            throw new StreamOwnershipLostException($"This consumer no longer owns '{lease.DataStreamName}' ({lease.IdInLbs}): {reason}.");
        }

        Finish(lease);
        Log.StreamReleased(_context.Logger, lease.DataStreamName, lease.IdInLbs);
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
        var outcome = await Send(_context.Scripts.CheckpointAsync(lease.IdInLbs, lease.Session.Id, lease.LeaseValue, position, state, lease.FencingToken)).ConfigureAwait(false);
        ThrowIfRefused(lease, outcome, "the checkpoint was refused");
    }

    public async Task<long> RecordFailedAttemptAsync(StreamLease lease, CancellationToken cancellationToken)
    {
        EnsureStillOwned(lease, cancellationToken);
        var (outcome, attempts) = await Send(_context.Scripts.RecordAttemptAsync(lease.IdInLbs, lease.Session.Id, lease.LeaseValue)).ConfigureAwait(false);
        ThrowIfRefused(lease, outcome, "the attempt was not counted");
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
        var (outcome, _) = await Send(_context.Scripts.DeadLetterAsync(lease.IdInLbs, lease.Session.Id, lease.LeaseValue, lease.DataStreamName, reason, _context.ConsumerId, _context.Options.DeadLetterMaxLength)).ConfigureAwait(false);
        ThrowIfRefused(lease, outcome, "it was not dead-lettered");
        Finish(lease);
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

        Log.StreamDisowned(_context.Logger, lease.DataStreamName, lease.IdInLbs, reason);
        _context.Notifications.Post(Notify.Disowned(lease, reason));
        _context.CapacityFreed();
    }

    /// <summary>Ownership ended by this consumer's own choice (completed, released): no notification.</summary>
    public void Finish(StreamLease lease)
    {
        _context.Registry.Remove(lease);
        lease.End();
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
        if (lease.IsOwned && lease.Session.IsPastLocalDeadline(_context.Time))
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
