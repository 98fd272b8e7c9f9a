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
/// (checkpoint, attempts) and ending it. A lease ends through <see cref="End"/> alone, for every
/// <see cref="LeaseEndReason"/> (docs/ARCHITECTURE.md, "How a lease ends"): locally first, then in Redis.
/// </summary>
internal sealed class LeaseOperations : ILeaseOperations
{
    /// <summary>How long an unacknowledged completion is sent again (a Sentinel failover takes seconds to settle).</summary>
    private static readonly TimeSpan CompletionConfirmLimit = TimeSpan.FromSeconds(30);

    /// <summary>The pause between two sends of an unacknowledged completion.</summary>
    private static readonly TimeSpan ConfirmRetryDelay = TimeSpan.FromMilliseconds(250);

    private readonly ClientContext _context;
    private readonly DataStreamReader _dataReader;

    public LeaseOperations(ClientContext context)
    {
        _context = context;
        _dataReader = new DataStreamReader(context);
    }

    public TimeProvider Time => _context.Time;

    /// <summary>
    /// <see cref="AcceptAsync"/> for one entry of a batch (a read or a claim). Should taking it on throw (a Redis failure
    /// while dead-lettering a malformed entry, or anything unexpected), the failure is logged and the grant is given
    /// back with <c>release.lua</c>, so a peer (or this consumer) takes it again and the rest of the batch is taken on;
    /// a release that fails too is left to the session's repair of grants it does not know (<see cref="GrantRepair"/>).
    /// </summary>
    public async Task<StreamLease?> AcceptOrGiveBackAsync(AcquiredEntry entry, LeaseOrigin origin, LeaseSession session, Partition partition)
    {
        try
        {
            return await AcceptAsync(entry, origin, session, partition).ConfigureAwait(false);
        }
        #pragma warning disable CA1031 // one entry's failure must never end its batch
        catch (Exception ex) when (ex is not OperationCanceledException || !_context.Stopping.IsCancellationRequested)
        #pragma warning restore CA1031
        {
            Log.AcceptFailed(_context.Logger, _context.Layout.IdOf(partition.Index, entry.Id), ex);
            try
            {
                await partition.Scripts.ReleaseAsync(session.Id, [(entry.Id, session.RecordValue(entry.FencingToken))]).ConfigureAwait(false);
            }
            catch (Exception release) when (release is RedisException or RedisTimeoutException)
            {
                Log.ReadFailed(_context.Logger, release);
            }

            return null;
        }
    }

    /// <summary>
    /// Turns a stream freshly granted to <paramref name="session"/> into an owned <see cref="StreamLease"/>, or
    /// dead-letters it when it is malformed. Returns the lease, or <see langword="null"/> when the entry was
    /// dead-lettered or the session ended while the grant was on its way (its streams go to peers).
    /// </summary>
    public async Task<StreamLease?> AcceptAsync(AcquiredEntry entry, LeaseOrigin origin, LeaseSession session, Partition partition)
    {
        var parsed = _context.Parser.Parse(entry.Fields);
        if (!parsed.IsValid)
        {
            Log.MalformedEntry(_context.Logger, entry.Id, parsed.Error!);
            var recordValue = session.RecordValue(entry.FencingToken);
            var (outcome, _) = await partition.Scripts.DeadLetterAsync(entry.Id, session.Id, recordValue, null, parsed.Error!, _context.ConsumerId, _context.Options.DeadLetterMaxLength).ConfigureAwait(false);
            if (outcome != WriteOutcome.Done)
            {
                Log.DeadLetterRefused(_context.Logger, entry.Id);
            }
            else
            {
                _context.Metrics.EntryRejected(partition.Keys, duplicate: false);
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
            partition);
        // Registered first, then the session checked: a session that ends meanwhile either sees this lease in its
        // snapshot or is seen ended here, so no lease of an ended session stays registered (a zombie holding a slot).
        var stale = _context.Registry.AddOrReplace(lease);
        // Counted as soon as it is registered, before anything can end it: every end counts it down once, so a grant
        // ended on arrival (its session ended meanwhile) must have counted up first, or the held gauge drifts.
        _context.Metrics.LeaseAcquired(partition.Keys, origin);
        if (stale is not null)
        {
            // The same stream granted again while an older lease of it was still registered (its record was lost or
            // repaired): the old lease is over, and only the new one is renewed, acted on and ended with its session.
            End(stale, LeaseEndReason.Superseded, "the stream was granted again to this consumer with a newer fencing token");
        }

        // The local deadline may have passed with its timer not run yet (a stalled thread pool, a reply flushed late
        // from a reconnect's backlog): Redis may have given the session's streams to peers already, so the session ends
        // now, with this grant, instead of handing out a lease whose peer may be running.
        EndSessionIfPastLocalDeadline(session);

        if (session.IsEnded)
        {
            // Granted to a session this process has given up: the grant ends with it (its streams go to peers).
            End(lease, LeaseEndReason.SessionEnded, "the session ended while the grant was on its way");
            return null;
        }

        Log.StreamOwned(_context.Logger, lease.DataStreamName, lease.IdInLbs, origin, lease.FencingToken);
        return lease;
    }

    /// <summary>
    /// Completes the stream in Redis, then ends the lease (<see cref="LeaseEndReason.Completed"/>). The one end whose
    /// Redis write comes first: it is the owner's decision, a completed stream is never granted to a peer (so there is
    /// no overlap to prevent), and a write that failed in an outage leaves the lease owned, so the caller can retry it.
    /// </summary>
    public async Task CompleteAsync(StreamLease lease, CancellationToken cancellationToken)
    {
        EnsureStillOwned(lease, cancellationToken);
        var outcome = await Send(lease.Partition.Scripts.CompleteAsync(lease.EntryId, lease.Session.Id, lease.LeaseValue, lease.DataStreamName)).ConfigureAwait(false);
        if (outcome == WriteOutcome.Unreplicated)
        {
            outcome = await ConfirmCompletionAsync(lease).ConfigureAwait(false);
        }

        ThrowIfRefused(lease, outcome, "before completion");
        End(lease, LeaseEndReason.Completed);
        Log.StreamCompleted(_context.Logger, lease.DataStreamName, lease.IdInLbs);
    }

    /// <summary>
    /// A completion the primary took but no replica acknowledged (docs/ARCHITECTURE.md, "Writes a failover must not
    /// lose"): sent again every <see cref="ConfirmRetryDelay"/> until a replica acknowledges it or Redis refuses it, for up
    /// to <see cref="CompletionConfirmLimit"/>. Whether or not the lease is still owned here: the script is fenced (the
    /// record must name this session, live in Redis) and answers done to a completion that took effect, so the answer
    /// says what happened. A failover that lost it leaves the record naming this session, which dies meanwhile
    /// (<see cref="WriteOutcome.SessionDead"/>: the stream goes to a peer); one that kept it answers done.
    /// </summary>
    private async Task<WriteOutcome> ConfirmCompletionAsync(StreamLease lease)
    {
        Log.CompletionUnacknowledged(_context.Logger, lease.DataStreamName, lease.IdInLbs, (long)lease.Partition.Scripts.ReplicaWait.TotalMilliseconds);
        var started = _context.Time.GetTimestamp();
        while (_context.Time.GetElapsedTime(started) < CompletionConfirmLimit)
        {
            await Task.Delay(ConfirmRetryDelay, _context.Time).ConfigureAwait(false);
            try
            {
                var outcome = await lease.Partition.Scripts.CompleteAsync(lease.EntryId, lease.Session.Id, lease.LeaseValue, lease.DataStreamName).ConfigureAwait(false);
                if (outcome != WriteOutcome.Unreplicated)
                {
                    return outcome;
                }
            }
            catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
            {
                // The failover under way (READONLY, NOREPLICAS, a reconnect): ask again.
            }
        }

        return WriteOutcome.Unreplicated;
    }

    /// <summary>
    /// Ends leases here, then releases them in Redis for peers (<see cref="LeaseEndReason.Released"/>,
    /// <see cref="LeaseEndReason.Shutdown"/>) in one pipelined flight (<see cref="ReleaseManyAsync"/>): a peer hears
    /// "released" only after this consumer stopped.
    /// </summary>
    public async Task ReleaseAsync(IReadOnlyCollection<StreamLease> leases, LeaseEndReason reason)
    {
        var ended = leases.Where(l => End(l, reason)).ToArray();
        var failed = await ReleaseManyAsync(ended).ConfigureAwait(false);
        if (failed.Count > 0)
        {
            // Still recorded for this session in Redis: the renewal's count finds them and they are released then.
            var (page, error) = failed[0];
            throw new RecoverableStreamsException($"Releasing {failed.Sum(f => f.Leases.Count)} stream(s) failed (first: '{page[0].DataStreamName}'): {error.Message}", error);
        }
    }

    /// <summary>
    /// Releases exactly this lease: it ends here first (<see cref="LeaseEndReason.Released"/>), then its record is
    /// released in Redis; refused when Redis holds another record for its entry. A release that failed in an outage
    /// stays recorded for this session in Redis: the renewal's count finds it, and it is released then.
    /// </summary>
    public async Task ReleaseAsync(StreamLease lease, CancellationToken cancellationToken)
    {
        EnsureStillOwned(lease, cancellationToken);
        if (!End(lease, LeaseEndReason.Released))
        {
            throw new StreamOwnershipLostException($"This consumer no longer owns '{lease.DataStreamName}' ({lease.IdInLbs}).");
        }

        var released = await Send(lease.Partition.Scripts.ReleaseAsync(lease.Session.Id, [(lease.EntryId, lease.LeaseValue)])).ConfigureAwait(false);
        if (released.Count == 0)
        {
            throw new StreamOwnershipLostException($"This consumer no longer owns '{lease.DataStreamName}' ({lease.IdInLbs}): its ownership record names another owner or its session expired; it was not released.");
        }

        Log.StreamReleased(_context.Logger, lease.DataStreamName, lease.IdInLbs);
    }

    /// <summary>
    /// Ends leases here for <paramref name="reason"/> (<see cref="LeaseEndReason.HandedOver"/>,
    /// <see cref="LeaseEndReason.Stalled"/>; <see cref="StreamLease.OwnershipLost"/> fires, the application is told),
    /// then releases their records in Redis, so a peer can claim them only after this consumer has stopped. Returns the
    /// leases whose release did not reach Redis: still recorded for this session, the caller releases them again (the
    /// release is ownership-checked, so a late retry is harmless).
    /// </summary>
    public async Task<IReadOnlyList<StreamLease>> EndAndReleaseAsync(IReadOnlyCollection<StreamLease> leases, LeaseEndReason reason, string why)
    {
        foreach (var lease in leases)
        {
            End(lease, reason, why);
        }

        return await ReleaseEndedAsync(leases).ConfigureAwait(false);
    }

    /// <summary>Releases in Redis leases that have already ended here; returns those whose call failed.</summary>
    public async Task<IReadOnlyList<StreamLease>> ReleaseEndedAsync(IReadOnlyCollection<StreamLease> leases)
    {
        var failed = new List<StreamLease>();
        foreach (var (page, error) in await ReleaseManyAsync(leases).ConfigureAwait(false))
        {
            Log.HandOverReleaseFailed(_context.Logger, page.Count, error);
            failed.AddRange(page);
        }

        return failed;
    }

    /// <summary>
    /// Releases in Redis, in one pipelined flight, leases that have already ended here: one
    /// <see cref="StreamScripts.ReleaseManyAsync"/> per session and partition, all sent together, each waking that
    /// partition's peers once. Returns the groups whose release failed, with the error (still recorded for their session
    /// in Redis: the caller releases them again or leaves them to the session's end; a release is ownership-checked,
    /// so a late retry is harmless).
    /// </summary>
    public async Task<IReadOnlyList<(IReadOnlyList<StreamLease> Leases, Exception Error)>> ReleaseManyAsync(IReadOnlyCollection<StreamLease> leases)
    {
        var groups = leases.GroupBy(l => (l.Session, l.Partition)).Select(g => g.ToArray()).ToArray();
        var outcomes = await Task.WhenAll(groups.Select(ReleaseGroupAsync)).ConfigureAwait(false);
        return outcomes.Where(o => o.Error is not null).Select(o => ((IReadOnlyList<StreamLease>)o.Leases, o.Error!)).ToArray();
    }

    private async Task<(StreamLease[] Leases, Exception? Error)> ReleaseGroupAsync(StreamLease[] group)
    {
        var (session, partition) = (group[0].Session, group[0].Partition);
        try
        {
            var released = (await partition.Scripts.ReleaseManyAsync(session.Id, group.Select(l => (l.EntryId, l.LeaseValue)).ToArray()).ConfigureAwait(false))
                .ToHashSet(StringComparer.Ordinal);
            foreach (var lease in group.Where(l => released.Contains(l.EntryId)))
            {
                Log.StreamReleased(_context.Logger, lease.DataStreamName, lease.IdInLbs);
            }

            return (group, null);
        }
        catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
        {
            return (group, ex);
        }
    }

    public async Task<StreamCheckpoint?> GetCheckpointAsync(StreamLease lease, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // In a read slot like the handlers' stream reads: 80,000 streams taken over at once start 80,000 handlers, whose
        // checkpoint reads would otherwise all queue ahead of the session's renewal on the shared connection.
        var fields = await _dataReader.InReadSlotAsync(() => Send(_context.Database.HashGetAsync(lease.Partition.Keys.Checkpoint(lease.EntryId), ["pos", "state", "token"])), cancellationToken).ConfigureAwait(false);
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
        // Like completion, the write comes first: a dead-lettered stream is never granted again (see CompleteAsync).
        EnsureStillOwned(lease, cancellationToken);
        var (outcome, _) = await Send(lease.Partition.Scripts.DeadLetterAsync(lease.EntryId, lease.Session.Id, lease.LeaseValue, lease.DataStreamName, reason, _context.ConsumerId, _context.Options.DeadLetterMaxLength)).ConfigureAwait(false);
        ThrowIfRefused(lease, outcome, "it was not dead-lettered");
        End(lease, LeaseEndReason.DeadLettered);
        Log.StreamDeadLettered(_context.Logger, lease.DataStreamName, lease.IdInLbs, reason);
    }

    public IAsyncEnumerable<StreamEntry> ReadDataStreamAsync(StreamLease lease, string? afterId, int batchSize, CancellationToken cancellationToken) =>
        _dataReader.ReadAsync(lease, afterId, batchSize, cancellationToken);

    /// <summary>
    /// The local half of the one way a lease ends, for every <see cref="LeaseEndReason"/>: records the reason once,
    /// cancels <see cref="StreamLease.OwnershipLost"/> (<see cref="StreamLease.IsOwned"/> turns false), wakes its readers, frees the slot
    /// and, for ends the application did not ask for, posts one <see cref="StreamNotificationType.StreamDisowned"/>.
    /// Callers do the Redis half after it (release, or nothing when Redis already moved on). Returns
    /// <see langword="false"/> when the lease had already ended: nothing more happens.
    /// </summary>
    public bool End(StreamLease lease, LeaseEndReason reason, string? why = null)
    {
        _context.Registry.Remove(lease);
        if (!lease.End(reason))
        {
            return false;
        }

        // Its readers sleeping at the end of the data stream wake up and find OwnershipLost fired.
        _context.DataStreams.WakeReadersOf(lease.DataStreamName, lease);
        var askedFor = IsAskedFor(reason);
        _context.Metrics.LeaseEnded(lease.Partition.Keys, reason);
        if (!askedFor)
        {
            if (reason == LeaseEndReason.SessionEnded)
            {
                Log.LeaseEndedWithSession(_context.Logger, lease.DataStreamName, lease.IdInLbs, why ?? "");
            }
            else
            {
                var level = reason == LeaseEndReason.HandedOver ? LogLevel.Information : LogLevel.Warning;
                Log.LeaseEnded(_context.Logger, level, lease.DataStreamName, lease.IdInLbs, reason, why ?? "");
            }

            _context.Notifications.Post(Notify.Ended(lease, reason));
        }

        _context.CapacityFreed();
        return true;
    }

    /// <summary>Ends a session (its deadline passed locally, or Redis refused it): see <see cref="ConsumerSession.End"/>.</summary>
    public void EndSession(LeaseSession session, string reason) => _context.Session.End(session, reason);

    /// <summary>Ends asked for by the application (or its host): it knows already, no notification.</summary>
    private static bool IsAskedFor(LeaseEndReason reason) =>
        reason is LeaseEndReason.Completed or LeaseEndReason.Released or LeaseEndReason.DeadLettered or LeaseEndReason.Shutdown;

    /// <summary>Ends the session here when its local deadline passed and the deadline timer has not ended it yet.</summary>
    private void EndSessionIfPastLocalDeadline(LeaseSession session)
    {
        if (!session.IsEnded && session.IsPastLocalDeadline(_context.Time))
        {
            EndSession(session, "the session's local deadline passed without a successful renewal");
        }
    }

    private void EnsureStillOwned(StreamLease lease, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!lease.HasEnded)
        {
            EndSessionIfPastLocalDeadline(lease.Session);
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
            case WriteOutcome.Unreplicated:
                // Not ended here: whether it took effect is unknown, and a retry (fenced, idempotent) finds out.
                throw new RecoverableStreamsException($"The primary took the completion of '{lease.DataStreamName}' ({lease.IdInLbs}), but no replica acknowledged it within {CompletionConfirmLimit.TotalSeconds:0} s: a failover may lose it, and then the stream's next owner processes it again. Retrying is safe: a completion that took effect answers done.");
            case WriteOutcome.SessionDead:
                const string sessionReason = "the session expired in Redis";
                EndSession(lease.Session, sessionReason);
                throw new StreamOwnershipLostException($"This consumer no longer owns '{lease.DataStreamName}' ({lease.IdInLbs}): {sessionReason}; {what}.");
            default:
                var reason = "its ownership record names another owner; " + what;
                End(lease, LeaseEndReason.Superseded, reason);
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
