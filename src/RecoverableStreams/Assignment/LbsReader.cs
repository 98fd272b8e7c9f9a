using RecoverableStreams.Diagnostics;
using RecoverableStreams.Leasing;
using RecoverableStreams.Notifications;
using RecoverableStreams.Partitioning;
using StackExchange.Redis;

namespace RecoverableStreams.Assignment;

/// <summary>
/// Reads new LBS entries of one partition and grants them to this consumer's session in the same script, only as many as there are free slots. StackExchange.Redis
/// cannot block on XREADGROUP, so the reader sleeps until a wake-up (keyspace <c>xadd</c>, the publisher's <c>added</c>
/// event, a freed slot) or <see cref="RecoverableStreamOptions.PollInterval"/>.
/// </summary>
internal sealed class LbsReader(ClientContext context, Partition partition, LeaseOperations leases)
{
    private const int MaxBatch = 100;

    /// <summary>After taking its fair share of a backlog, the pause that lets peers take theirs before this reader reads on.</summary>
    private static readonly TimeSpan ShareDelay = TimeSpan.FromMilliseconds(20);

    public async Task RunAsync()
    {
        var stopping = context.Stopping;
        var failures = 0;
        while (!stopping.IsCancellationRequested)
        {
            var outcome = ReadOutcome.Idle;
            try
            {
                outcome = await ReadOnceAsync().ConfigureAwait(false);
                failures = 0;
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (RedisServerException ex) when (ex.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal))
            {
                if (await LbsIsNotAStreamAsync().ConfigureAwait(false))
                {
                    Log.LbsKeyWrongType(context.Logger, partition.Keys.Lbs, ex);
                    context.Notifications.Terminate(ClientTerminationReason.LbsKeyNotAStream);
                    return;
                }

                failures++;
                Log.ReadFailed(context.Logger, ex);
            }
            // A background loop never dies: Redis failures and anything unexpected are logged and retried.
            #pragma warning disable CA1031
            catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
            #pragma warning restore CA1031
            {
                failures++;
                Log.ReadFailed(context.Logger, ex);
            }

            if (outcome == ReadOutcome.MoreWaiting)
            {
                continue;
            }

            try
            {
                if (outcome == ReadOutcome.TookFairShare)
                {
                    await Task.Delay(ShareDelay, context.Time, stopping).ConfigureAwait(false);
                    continue;
                }

                var wait = failures > 0 ? Backoff.For(failures, context.Options.PollInterval) : context.Options.PollInterval;
                await partition.ReaderWake.WaitAsync(wait, context.Time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// A WRONGTYPE from the read script may come from any key it touches: only a wrong LBS key is fatal; the others
    /// (a control key overwritten by hand) are retried like any Redis failure.
    /// </summary>
    private async Task<bool> LbsIsNotAStreamAsync()
    {
        try
        {
            var type = await context.Database.KeyTypeAsync(partition.Keys.Lbs).ConfigureAwait(false);
            return type is not RedisType.Stream and not RedisType.None;
        }
        catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
        {
            return false;
        }
    }

    /// <summary>Takes one granted entry on; one that throws is logged and given back, never ending the batch.</summary>
    private async Task AcceptOneAsync(Scripts.AcquiredEntry entry, LeaseSession session)
    {
        var lease = await leases.AcceptOrGiveBackAsync(entry, LeaseOrigin.Assigned, session, partition).ConfigureAwait(false);
        if (lease is not null)
        {
            context.Notifications.Post(Notify.Added(lease));
        }
    }

    private enum ReadOutcome
    {
        /// <summary>Nothing more to read now, or no free slot: wait for a wake-up.</summary>
        Idle,

        /// <summary>A full batch came back: read again at once.</summary>
        MoreWaiting,

        /// <summary>This reader took its fair share and entries are still undelivered: read again after peers had a turn.</summary>
        TookFairShare,
    }

    private async Task<ReadOutcome> ReadOnceAsync()
    {
        using var gate = await context.Registry.EnterAcquisitionAsync(context.Stopping).ConfigureAwait(false);
        var free = Math.Min(context.Registry.FreeSlots, MaxBatch);
        if (free == 0 || !context.Session.TryGetLive(out var session))
        {
            // No free slot, or no live session (the renewer is opening one and wakes this reader).
            return ReadOutcome.Idle;
        }

        var reply = await partition.Scripts.ReadAndAcquireAsync(context.ConsumerId, session.Id, free, context.Options.DeadLetterMaxLength).ConfigureAwait(false);
        if (!reply.SessionLive)
        {
            leases.EndSession(session, "the session expired in Redis");
            return ReadOutcome.Idle;
        }

        context.Metrics.Lag(partition.Keys, reply.Left);
        foreach (var duplicate in reply.Duplicates)
        {
            Log.DuplicateDeadLettered(context.Logger, duplicate.Id, duplicate.DataStreamName, duplicate.LiveId);
            context.Metrics.EntryRejected(partition.Keys, duplicate: true);
        }

        foreach (var refused in reply.Refused)
        {
            // Over a size or field limit: the script dead-lettered it, and its fields never left Redis.
            Log.MalformedEntry(context.Logger, context.Layout.IdOf(partition.Index, refused.Id), refused.Reason);
            context.Metrics.EntryRejected(partition.Keys, duplicate: false);
        }

        foreach (var entry in reply.Entries)
        {
            // Each entry on its own: one that throws must not strand the rest of the batch, already granted in Redis.
            await AcceptOneAsync(entry, session).ConfigureAwait(false);
        }

        if (context.Registry.FreeSlots == 0)
        {
            return ReadOutcome.Idle;
        }

        if (reply.Entries.Count + reply.Duplicates.Count + reply.Refused.Count == free)
        {
            return ReadOutcome.MoreWaiting;
        }

        // Only after a read that took something: a stale lag must never turn this into a busy loop.
        return reply.Left > 0 && reply.Entries.Count > 0 ? ReadOutcome.TookFairShare : ReadOutcome.Idle;
    }
}
