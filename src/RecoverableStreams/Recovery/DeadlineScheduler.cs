using RecoverableStreams.Diagnostics;
using RecoverableStreams.Leasing;
using RecoverableStreams.Notifications;
using RecoverableStreams.Partitioning;
using RecoverableStreams.Rebalancing;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.Recovery;

/// <summary>
/// The failover path: sleeps until the earliest deadline of another session (never longer than
/// <see cref="RecoverableStreamOptions.SweepInterval"/>) or an early trigger (a release, a closed session, a repaired
/// entry, a free slot), then hands out the streams that need an owner: the free-now index and the streams of dead
/// sessions. With AutoClaim it claims them within its free capacity and fair share; without, it announces them, and
/// announces again every SweepInterval until someone claims them. Less loaded consumers go first: each waits a short
/// stagger proportional to its load. Never relies on keyspace <c>expired</c> events.
/// </summary>
internal sealed class DeadlineScheduler(ClientContext context, Partition partition, LeaseOperations leases, ServiceLoad? fairShare)
{
    /// <summary>When orphans remain after this consumer took its share, look again this soon.</summary>
    private static readonly TimeSpan RemainingWorkDelay = TimeSpan.FromMilliseconds(20);

    private const int AnnounceBatch = 200;

    /// <summary>Where the next announce page starts (a rank in the free-now index).</summary>
    private long _offset;

    /// <summary>When each listed stream was last announced, and as what: it is announced again after a SweepInterval.</summary>
    private readonly Dictionary<string, (long At, StreamNotificationType Type)> _announced = new(StringComparer.Ordinal);

    public async Task RunAsync()
    {
        var stopping = context.Stopping;
        var delay = TimeSpan.Zero;
        var failures = 0;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await partition.SchedulerWake.WaitAsync(delay, context.Time, stopping).ConfigureAwait(false);
                await Task.Delay(Stagger(), context.Time, stopping).ConfigureAwait(false);
                delay = context.Options.AutoClaim ? await ClaimOnceAsync().ConfigureAwait(false) : await AnnounceOnceAsync().ConfigureAwait(false);
                failures = 0;
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            // A background loop never dies: Redis failures and anything unexpected are logged and retried.
            #pragma warning disable CA1031
            catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
            #pragma warning restore CA1031
            {
                failures++;
                Log.SweepFailed(context.Logger, ex);
                delay = Backoff.For(failures, context.Options.SweepInterval);
            }
        }
    }

    private async Task<TimeSpan> ClaimOnceAsync()
    {
        ClaimReply reply;
        var claimed = new List<StreamLease>();
        var limit = 0;
        using (await context.Registry.EnterAcquisitionAsync(context.Stopping).ConfigureAwait(false))
        {
            var free = context.Registry.FreeSlots;
            if (free == 0 || !context.Session.TryGetLive(out var session))
            {
                // Full, or no live session: a freed slot or a new session wakes the scheduler.
                return context.Options.SweepInterval;
            }

            if (fairShare is not null)
            {
                // Rebalancing: up to this consumer's fair share, so under-share consumers fill up first and this one
                // never takes back what it just handed over. A limit of 0 still asks when to look again.
                try
                {
                    free = await fairShare.ClaimLimitAsync(session, free).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
                {
                    // The load could not be read (an ACL without HLEN/HSCAN, a busy server): failover must not wait for
                    // the rebalancer. The claim script's own fair share still bounds what this consumer takes.
                    Log.RebalanceFailed(context.Logger, ex);
                }
            }

            limit = free;
            reply = await partition.Scripts.ClaimOrphansAsync(context.ConsumerId, session.Id, free).ConfigureAwait(false);
            if (!reply.SessionLive)
            {
                leases.EndSession(session, "the session expired in Redis");
                return context.Options.SweepInterval;
            }

            foreach (var result in reply.Results)
            {
                if (result.Status != ClaimStatus.Claimed)
                {
                    continue;
                }

                var origin = string.Equals(result.Entry!.PreviousConsumer, context.ConsumerId, StringComparison.Ordinal) ? LeaseOrigin.Recovered : LeaseOrigin.Claimed;
                var lease = await leases.AcceptAsync(result.Entry, origin, session, partition).ConfigureAwait(false);
                if (lease is not null)
                {
                    claimed.Add(lease);
                }
            }
        }

        if (claimed.Count > 0)
        {
            Log.Claimed(context.Logger, claimed.Count, reply.OrphansLeft);
        }

        foreach (var lease in claimed)
        {
            await context.Notifications.WriteAsync(Notify.Added(lease)).ConfigureAwait(false);
        }

        return reply.OrphansLeft > 0 && limit > 0 && context.Registry.FreeSlots > 0 ? RemainingWorkDelay : UntilNext(reply.MillisecondsUntilNextDeadline);
    }

    private async Task<TimeSpan> AnnounceOnceAsync()
    {
        var session = context.Session.Current;
        var reply = await partition.Scripts.FindOrphansAsync(session?.Id, _offset, AnnounceBatch).ConfigureAwait(false);
        _offset = reply.NextOffset;
        var now = context.Time.GetTimestamp();
        foreach (var entry in reply.Entries)
        {
            var type = partition.RecentlyReleased.Remove(entry.Id) ? StreamNotificationType.StreamReleased : StreamNotificationType.StreamExpired;
            if (_announced.TryGetValue(entry.Id, out var last))
            {
                if (context.Time.GetElapsedTime(last.At, now) < context.Options.SweepInterval)
                {
                    continue;
                }

                // Announced before and still unclaimed: announced again, as what it was.
                type = last.Type;
            }

            var parsed = context.Parser.Parse(entry.Fields);
            if (!parsed.IsValid)
            {
                // Whoever claims it dead-letters it; it is announced so that someone does.
                Log.MalformedEntry(context.Logger, entry.Id, parsed.Error!);
            }

            _announced[entry.Id] = (now, type);
            await context.Notifications.WriteAsync(new StreamNotification
            {
                Type = type,
                Payload = new LbsInfo(parsed.DataStreamName ?? "", context.Layout.IdOf(partition.Index, entry.Id)),
                AdditionalInfo = parsed.Info,
            }).ConfigureAwait(false);
        }

        if (reply.NextOffset > 0)
        {
            // More of the free-now index follows: page on at once.
            return TimeSpan.Zero;
        }

        // A full pass ended: forget what was not listed for a while (claimed, completed), so the memory stays bounded.
        foreach (var stale in _announced.Where(a => context.Time.GetElapsedTime(a.Value.At, now) > context.Options.SweepInterval * 2).Select(a => a.Key).ToArray())
        {
            _announced.Remove(stale);
        }

        // Never later than SweepInterval: what is still unclaimed then is announced again.
        return UntilNext(reply.MillisecondsUntilNextDeadline);
    }

    /// <summary>A loaded consumer waits a little, so the least loaded take expired streams first.</summary>
    private TimeSpan Stagger()
    {
        var load = (double)context.Registry.Count / context.Registry.Capacity;
        var maxStagger = TimeSpan.FromMilliseconds(Math.Min(50, context.LeaseDuration.TotalMilliseconds / 20));
        return maxStagger * load;
    }

    private TimeSpan UntilNext(long milliseconds)
    {
        if (milliseconds < 0)
        {
            return context.Options.SweepInterval;
        }

        // A session is dead once its deadline is not after now: look one millisecond later.
        var until = TimeSpan.FromMilliseconds(milliseconds + 1);
        return until < context.Options.SweepInterval ? until : context.Options.SweepInterval;
    }
}
