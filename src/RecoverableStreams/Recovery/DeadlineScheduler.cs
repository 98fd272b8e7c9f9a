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
/// announces again every SweepInterval until someone claims them. With AutoClaim a wake-up takes this consumer's whole
/// fair share at once: one call, then the rest in a pipelined flight (<see cref="ClaimFlight"/>: as many calls ahead of
/// the replies read as the consumer's <see cref="ClaimCallBudget"/> allows), with no pause or stagger. Never relies on
/// keyspace <c>expired</c> events.
/// </summary>
internal sealed class DeadlineScheduler(ClientContext context, Partition partition, LeaseOperations leases, ServiceLoad? fairShare, ClaimCallBudget claimCalls)
{
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
        var replies = new List<ClaimReply>();
        var firstClaimed = new List<StreamLease>();
        ClaimFlight? flight = null;
        LeaseRegistry.SlotReservation? reservation = null;
        long? readingHoldsUntil = null;
        int free;
        LeaseSession? session;
        using (await context.Registry.EnterAcquisitionAsync(context.Stopping).ConfigureAwait(false))
        {
            free = context.Registry.FreeSlots;
            if (free == 0 || !context.Session.TryGetLive(out session))
            {
                // Full, or no live session: a freed slot or a new session wakes the scheduler.
                return context.Options.SweepInterval;
            }

            long? unowned = null;
            if (fairShare is not null)
            {
                // Rebalancing: up to this consumer's fair share, so under-share consumers fill up first and this one
                // never takes back what it just handed over. A limit of 0 still asks when to look again.
                try
                {
                    var budget = await fairShare.ClaimBudgetAsync(session, free, partition).ConfigureAwait(false);
                    (free, unowned, readingHoldsUntil) = (budget.Limit, budget.Unowned, budget.LiveUntilServerMs);
                }
                catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
                {
                    // The load could not be read (an ACL without HLEN/HSCAN, a busy server): failover must not wait for
                    // the rebalancer. The claim script's own fair share still bounds what this consumer takes.
                    Log.RebalanceFailed(context.Logger, ex);
                }
            }

            // The first call takes up to 250 (fewer while renewals are slow: ClaimCallBudget) and tells how many need an owner among how many live sessions. When
            // the load was read, the rest of this consumer's share (as far as streams wait for an owner) goes out with
            // it, in the same pipelined flight, on slots reserved now: Redis runs the calls back to back instead of
            // waiting for this process between them.
            var firstSize = Math.Min(free, claimCalls.StreamsPerCall);
            var firstCall = partition.Scripts.ClaimOrphansAsync(context.ConsumerId, session.Id, firstSize);
            if (unowned is { } waiting)
            {
                (reservation, flight) = ReserveAndSend((int)Math.Min(free, waiting) - firstSize, session);
            }

            ClaimReply first;
            try
            {
                first = await firstCall.ConfigureAwait(false);
            }
            catch (Exception) when (reservation is not null)
            {
                // What the rest of the flight granted becomes leases all the same, and its slots are given back;
                // then the failure is reported (and the scheduler backs off).
                flight!.Stop();
                await AcceptFlightAsync(flight, reservation, session, replies).ConfigureAwait(false);
                throw;
            }

            if (!first.SessionLive)
            {
                leases.EndSession(session, "the session expired in Redis");
                if (reservation is not null)
                {
                    // The rest of the flight is refused too (the session is dead in Redis): its slots go back.
                    flight!.Stop();
                    await AcceptFlightAsync(flight, reservation, session, replies).ConfigureAwait(false);
                }

                return context.Options.SweepInterval;
            }

            replies.Add(first);
            await AcceptAsync(first, session, firstClaimed).ConfigureAwait(false);

            // Without a reading of the load, the rest of this consumer's fair share (as the first call computed it)
            // comes in one pipelined flight after it. Its calls are not capped again by what is left when each runs:
            // survivors take their whole shares at once instead of ever smaller turns, and the shares, each computed
            // from a reading no larger than the true total, never add up to more than every stream.
            if (reservation is null && first.Results.Count > 0 && first.OrphansLeft > 0)
            {
                (reservation, flight) = ReserveAndSend((int)Math.Min(Math.Min(free, first.FairShare) - first.Results.Count, int.MaxValue), session);
            }
        }

        await NotifyAsync(firstClaimed).ConfigureAwait(false);
        if (reservation is not null)
        {
            await AcceptFlightAsync(flight!, reservation, session, replies).ConfigureAwait(false);
        }

        // More dead sessions than one call visits: go on at once (they may own streams). Orphans left while this
        // consumer still has room: look again at once; the scripts' fair shares stop it at its share.
        var last = replies[^1];
        var taken = replies.Sum(r => r.Results.Count);
        if (replies.Exists(r => r.DeadSessionsLeft) || (last.OrphansLeft > 0 && taken > 0 && free > taken))
        {
            return TimeSpan.Zero;
        }

        // The reading counted a session that was dead when a claim ran (a wake a millisecond early by this process's
        // clock, with the reading taken or shared just before): this consumer's limit counted one consumer too many, and
        // what it left would wait a whole lease for the next wake-up (measured: 832 of 10,000 streams re-owned 1.9 s
        // after a crash). The reading is dropped and the budget read again at once.
        if (readingHoldsUntil is { } holdsUntil && last.OrphansLeft > 0 && replies.Exists(r => r.ServerNowMs >= holdsUntil))
        {
            fairShare!.Forget();
            return TimeSpan.Zero;
        }

        return UntilNext(replies.Select(r => r.MillisecondsUntilNextDeadline).Where(ms => ms >= 0).DefaultIfEmpty(-1).Min());
    }

    /// <summary>
    /// Reserves slots for up to <paramref name="count"/> more streams and starts the flight of claim calls that fill them
    /// (<see cref="ClaimFlight"/>). Returns nulls when there is nothing to send.
    /// </summary>
    private (LeaseRegistry.SlotReservation? Reservation, ClaimFlight? Flight) ReserveAndSend(int count, LeaseSession session)
    {
        if (count <= 0)
        {
            return (null, null);
        }

        var reservation = context.Registry.Reserve(count);
        var flight = new ClaimFlight(context, partition, session, claimCalls, reservation.Count);
        flight.Send();
        return (reservation, flight);
    }

    /// <summary>
    /// Accepts the replies of the rest of a flight as they come, announcing each reply's streams at once, then gives back
    /// the reservation. Every call is accounted for, even when one fails: a grant that reached Redis becomes a lease.
    /// </summary>
    private async Task AcceptFlightAsync(ClaimFlight flight, LeaseRegistry.SlotReservation reservation, LeaseSession session, List<ClaimReply> replies)
    {
        using (reservation)
        {
            var flightClaimed = 0;
            while (flight.TryNext(out var call))
            {
                await ((Task)call).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                if (call.IsCompletedSuccessfully)
                {
                    if (!call.Result.SessionLive || call.Result.Results.Count == 0 || call.Result.OrphansLeft == 0)
                    {
                        // Refused (the session is dead in Redis), or nothing is left to claim: no more calls.
                        flight.Stop();
                    }

                    replies.Add(call.Result);
                    var claimed = new List<StreamLease>();
                    await AcceptAsync(call.Result, session, claimed).ConfigureAwait(false);
                    await NotifyAsync(claimed).ConfigureAwait(false);
                    flightClaimed += call.Result.Results.Count;
                }
                else
                {
                    flight.Stop();
                    Log.SweepFailed(context.Logger, call.Exception?.GetBaseException() ?? new OperationCanceledException());
                }
            }

            if (flightClaimed < reservation.Count)
            {
                // Slots held for the flight and not filled are free again: whoever saw them taken may look now.
                context.CapacityFreed();
            }
        }
    }

    private async Task NotifyAsync(List<StreamLease> claimed)
    {
        foreach (var lease in claimed)
        {
            await context.Notifications.WriteAsync(Notify.Added(lease)).ConfigureAwait(false);
        }
    }

    /// <summary>Turns one claim call's grants into leases (one log line per call, so its bound shows).</summary>
    private async Task AcceptAsync(ClaimReply reply, LeaseSession session, List<StreamLease> claimed)
    {
        var count = 0;
        foreach (var result in reply.Results)
        {
            if (result.Status != ClaimStatus.Claimed)
            {
                continue;
            }

            var origin = string.Equals(result.Entry!.PreviousConsumer, context.ConsumerId, StringComparison.Ordinal) ? LeaseOrigin.Recovered : LeaseOrigin.Claimed;
            if (await leases.AcceptOrGiveBackAsync(result.Entry, origin, session, partition).ConfigureAwait(false) is { } lease)
            {
                claimed.Add(lease);
                count++;
            }
        }

        if (count > 0)
        {
            Log.Claimed(context.Logger, count, reply.OrphansLeft);
        }
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
