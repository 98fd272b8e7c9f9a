using RecoverableStreams.Diagnostics;
using RecoverableStreams.Scripts;

namespace RecoverableStreams.Leasing;

/// <summary>
/// Keeps this consumer's session alive: one <c>renew.lua</c> call per <see cref="ClientContext.RenewInterval"/>,
/// whatever the consumer owns. When the session ends (its local deadline passed, or Redis refused the renewal) every
/// lease of it is lost and a new session is opened. Also releases the streams of stalled handlers, one by one.
/// </summary>
internal sealed class SessionRenewer(ClientContext context, LeaseOperations leases)
{
    /// <summary>After a failed renewal, try again this soon (never later than the renew interval).</summary>
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(250);

    public async Task RunAsync()
    {
        var stopping = context.Stopping;
        while (!stopping.IsCancellationRequested)
        {
            TimeSpan delay;
            try
            {
                delay = await StepAsync().ConfigureAwait(false);
            }
            // A background loop never dies: Redis failures and anything unexpected are logged and retried.
            #pragma warning disable CA1031
            catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
            #pragma warning restore CA1031
            {
                Log.RenewalFailed(context.Logger, context.Registry.Count, ex);
                delay = Min(RetryDelay, context.RenewInterval);
                var untilDeadline = UntilLocalDeadline();
                if (untilDeadline > TimeSpan.Zero)
                {
                    delay = Min(delay, untilDeadline);
                }
            }

            try
            {
                await context.RenewerWake.WaitAsync(delay, context.Time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Opens a session when there is none (or it ended), else renews it, then releases stalled streams. Returns how
    /// long to wait before the next step.
    /// </summary>
    public async Task<TimeSpan> StepAsync()
    {
        var session = context.Session.Current;
        if (session is null || session.IsEnded)
        {
            if (session is not null)
            {
                await CloseEndedAsync(session).ConfigureAwait(false);
            }

            await OpenAsync().ConfigureAwait(false);
            return context.RenewInterval;
        }

        if (session.IsPastLocalDeadline(context.Time))
        {
            leases.EndSession(session, "the session's deadline passed without a successful renewal");
            return TimeSpan.Zero;
        }

        var sentAt = context.Time.GetTimestamp();
        var reply = Combine(await Task.WhenAll(context.Partitions.Select(p => p.Scripts.RenewAsync(session.Id, context.LeaseDuration))).ConfigureAwait(false));
        if (!reply.Accepted)
        {
            leases.EndSession(session, "the session expired in Redis before it was renewed");
            return TimeSpan.Zero;
        }

        session.Renewed(leases.LocalDeadlineFrom(sentAt), reply.DeadlineMs);
        await ReleaseStalledAsync().ConfigureAwait(false);
        return Min(context.RenewInterval, UntilLocalDeadline());
    }

    private async Task OpenAsync()
    {
        var id = context.NewSessionId();
        var sentAt = context.Time.GetTimestamp();
        var reply = Combine(await Task.WhenAll(context.Partitions.Select(p => p.Scripts.OpenSessionAsync(id, context.LeaseDuration))).ConfigureAwait(false));
        if (!reply.Accepted)
        {
            // A random id that exists already: never revive it; the next step draws another.
            throw new InvalidOperationException($"Session id {id} exists already.");
        }

        context.Session.Replace(new LeaseSession(id, leases.LocalDeadlineFrom(sentAt), reply.DeadlineMs));
        Log.SessionOpened(context.Logger, id, reply.DeadlineMs);
        context.CapacityFreed();
    }

    /// <summary>
    /// Marks a session this process gave up as dead in Redis at once, so peers need not wait for its deadline (Redis
    /// may still think it live, e.g. when the local deadline passed during a slow renewal). Best effort.
    /// </summary>
    private async Task CloseEndedAsync(LeaseSession session)
    {
        try
        {
            await Task.WhenAll(context.Partitions.Select(p => p.Scripts.CloseSessionAsync(session.Id))).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is StackExchange.Redis.RedisException or StackExchange.Redis.RedisTimeoutException)
        {
            // Its deadline frees its streams anyway.
            Log.RenewalFailed(context.Logger, 0, ex);
        }
    }

    /// <summary>A hung handler (no progress for HandlerStallTimeout) gives its one stream back, so a peer takes it.</summary>
    private async Task ReleaseStalledAsync()
    {
        if (context.Options.HandlerStallTimeout is not { } limit)
        {
            return;
        }

        var now = context.Time.GetTimestamp();
        var stalled = context.Registry.Snapshot().Where(l => context.Time.GetElapsedTime(l.LastProgress, now) > limit).ToArray();
        foreach (var lease in stalled)
        {
            Log.LeaseStalled(context.Logger, lease.DataStreamName, lease.IdInLbs, limit);
            await lease.Partition.Scripts.ReleaseAsync(lease.Session.Id, [(lease.EntryId, lease.LeaseValue)]).ConfigureAwait(false);
            leases.Lose(lease, $"its handler made no progress for longer than HandlerStallTimeout ({limit})");
        }
    }

    /// <summary>
    /// One session spans every partition (one member in each partition's sessions set, sent in one pipelined batch):
    /// it is accepted only where every partition accepted it, and its deadline is the earliest of theirs.
    /// </summary>
    private static SessionReply Combine(SessionReply[] replies) =>
        replies.Length == 1 ? replies[0] : replies.Any(r => !r.Accepted) ? replies.First(r => !r.Accepted) : replies.MinBy(r => r.DeadlineMs)!;

    private TimeSpan UntilLocalDeadline()
    {
        var session = context.Session.Current;
        if (session is null || session.IsEnded)
        {
            return TimeSpan.Zero;
        }

        var ticks = session.LocalDeadline - context.Time.GetTimestamp();
        return ticks <= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds((double)ticks / context.Time.TimestampFrequency);
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
