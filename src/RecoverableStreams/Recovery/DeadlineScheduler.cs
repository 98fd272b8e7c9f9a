using RecoverableStreams.Diagnostics;
using RecoverableStreams.Leasing;
using RecoverableStreams.Notifications;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.Recovery;

/// <summary>
/// The primary failover path (DESIGN.md section 6): sleeps until the earliest lease deadline (never longer than
/// <see cref="RecoverableStreamOptions.SweepInterval"/>) or an early trigger, then claims expired and released entries
/// within its free capacity and fair share (AutoClaim), or announces each of them once (no AutoClaim).
/// Less loaded consumers go first: each waits a short stagger proportional to its load.
/// </summary>
internal sealed class DeadlineScheduler(ClientContext context, LeaseOperations leases)
{
    /// <summary>When expired entries remain after this consumer took its share, look again this soon.</summary>
    private static readonly TimeSpan RemainingWorkDelay = TimeSpan.FromMilliseconds(20);

    private const int AnnounceBatch = 200;

    private string _watermark = "-inf";

    public async Task RunAsync()
    {
        var stopping = context.Stopping;
        var delay = TimeSpan.Zero;
        var failures = 0;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await context.SchedulerWake.WaitAsync(delay, context.Time, stopping).ConfigureAwait(false);
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
        long sentAt;
        var claimed = new List<StreamLease>();
        using (await context.Registry.EnterAcquisitionAsync(context.Stopping).ConfigureAwait(false))
        {
            var free = context.Registry.FreeSlots;
            if (free == 0)
            {
                // Full: a freed slot wakes the scheduler.
                return context.Options.SweepInterval;
            }

            sentAt = context.Time.GetTimestamp();
            reply = await context.Scripts.ClaimExpiredAsync(context.ConsumerId, context.LeaseValuePrefix, context.LeaseDuration, free, LiveWindow).ConfigureAwait(false);
            foreach (var result in reply.Results)
            {
                if (result.Status != ClaimStatus.Claimed)
                {
                    continue;
                }

                var origin = string.Equals(result.Entry!.PreviousConsumer, context.ConsumerId, StringComparison.Ordinal) ? LeaseOrigin.Recovered : LeaseOrigin.Claimed;
                var lease = await leases.AcceptAsync(result.Entry, origin, sentAt, reply.ServerNowMs).ConfigureAwait(false);
                if (lease is not null)
                {
                    claimed.Add(lease);
                }
            }
        }

        if (claimed.Count > 0)
        {
            Log.Claimed(context.Logger, claimed.Count, reply.ExpiredLeft);
        }

        foreach (var lease in claimed)
        {
            await context.Notifications.WriteAsync(Notify.Added(lease)).ConfigureAwait(false);
        }

        return reply.ExpiredLeft > 0 ? RemainingWorkDelay : UntilNext(reply.MillisecondsUntilNextDeadline);
    }

    private async Task<TimeSpan> AnnounceOnceAsync()
    {
        var reply = await context.Scripts.FindExpiredAsync(_watermark, AnnounceBatch).ConfigureAwait(false);
        _watermark = reply.Watermark;
        foreach (var entry in reply.Entries)
        {
            var parsed = context.Parser.Parse(entry.Fields);
            if (!parsed.IsValid)
            {
                // Whoever claims it dead-letters it; it is announced so that someone does.
                Log.MalformedEntry(context.Logger, entry.Id, parsed.Error!);
            }

            var released = context.RecentlyReleased.Remove(entry.Id);
            await context.Notifications.WriteAsync(new StreamNotification
            {
                Type = released ? StreamNotificationType.StreamReleased : StreamNotificationType.StreamExpired,
                Payload = new LbsInfo(parsed.DataStreamName ?? "", entry.Id),
                AdditionalInfo = parsed.Info,
            }).ConfigureAwait(false);
        }

        return reply.Entries.Count >= AnnounceBatch ? TimeSpan.Zero : UntilNext(reply.MillisecondsUntilNextDeadline);
    }

    /// <summary>Consumers that renewed within this window count as live for fair shares.</summary>
    private TimeSpan LiveWindow => context.LeaseDuration;

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

        // Redis expires a key strictly after its deadline: look one millisecond later.
        var until = TimeSpan.FromMilliseconds(milliseconds + 1);
        return until < context.Options.SweepInterval ? until : context.Options.SweepInterval;
    }
}
