using RecoverableStreams.Diagnostics;
using StackExchange.Redis;

namespace RecoverableStreams.Leasing;

/// <summary>
/// Renews every lease of this consumer in one script call per <see cref="ClientContext.RenewInterval"/>, and keeps a
/// local, monotonic deadline per lease: past it, ownership is lost even when Redis cannot be reached, so a paused
/// process learns on resume that it no longer owns its streams.
/// </summary>
internal sealed class LeaseRenewer(ClientContext context, LeaseOperations leases)
{
    /// <summary>The most leases one renew script call carries.</summary>
    private const int RenewBatch = 1000;

    /// <summary>After a failed renewal, try again this soon (never later than the renew interval).</summary>
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(250);

    public async Task RunAsync()
    {
        var stopping = context.Stopping;
        while (!stopping.IsCancellationRequested)
        {
            var delay = context.RenewInterval;
            try
            {
                await RenewOnceAsync().ConfigureAwait(false);
            }
            // A background loop never dies: Redis failures and anything unexpected are logged and retried.
            #pragma warning disable CA1031
            catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
            #pragma warning restore CA1031
            {
                Log.RenewalFailed(context.Logger, context.Registry.Count, ex);
                delay = RetryDelay < delay ? RetryDelay : delay;
            }

            delay = Min(delay, UntilEarliestLocalDeadline());
            try
            {
                await Task.Delay(delay, context.Time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>Expires what is overdue locally, then renews the rest (and the heartbeat), up to 1,000 leases per call.</summary>
    public async Task RenewOnceAsync()
    {
        ExpireOverdue();

        var stall = context.Options.HandlerStallTimeout;
        var now = context.Time.GetTimestamp();
        var toRenew = new List<StreamLease>();
        foreach (var lease in context.Registry.Snapshot())
        {
            if (stall is { } limit && context.Time.GetElapsedTime(lease.LastProgress, now) > limit)
            {
                // A hung handler: stop renewing; the lease expires and a peer takes the stream.
                Log.LeaseStalled(context.Logger, lease.DataStreamName, lease.IdInLbs, limit);
                continue;
            }

            toRenew.Add(lease);
        }

        // One call renews up to RenewBatch leases: a consumer with more makes a few calls, so no single script holds
        // Redis for long (a 5,000-lease script took ~100 ms of server time). Every call also refreshes the heartbeat.
        var batches = toRenew.Count == 0 ? [[]] : toRenew.Chunk(RenewBatch);
        foreach (var batch in batches)
        {
            await RenewBatchAsync(batch).ConfigureAwait(false);
        }
    }

    private async Task RenewBatchAsync(StreamLease[] batch)
    {
        var sentAt = context.Time.GetTimestamp();
        var reply = await context.Scripts.RenewAsync(
            context.ConsumerMember,
            context.LeaseDuration,
            HeartbeatRetention,
            batch.Select(l => (l.IdInLbs, l.LeaseValue)).ToArray()).ConfigureAwait(false);
        CoreMetrics.Renewed(context.Keys.Lbs, context.Time.GetElapsedTime(sentAt));

        var lost = reply.LostIds.ToHashSet(StringComparer.Ordinal);
        var localDeadline = leases.LocalDeadlineFrom(sentAt);
        var expiresAt = reply.ServerNowMs + (long)context.LeaseDuration.TotalMilliseconds;
        foreach (var lease in batch)
        {
            if (lost.Contains(lease.IdInLbs))
            {
                leases.Lose(lease, "its lease expired or was taken over by another consumer");
            }
            else
            {
                lease.Renewed(localDeadline, expiresAt);
            }
        }
    }

    /// <summary>Consumers silent this long are dropped from the registry (they no longer count for fair shares).</summary>
    private TimeSpan HeartbeatRetention => context.LeaseDuration * 10;

    private void ExpireOverdue()
    {
        foreach (var lease in context.Registry.Snapshot())
        {
            if (leases.IsPastLocalDeadline(lease))
            {
                leases.Lose(lease, "its lease deadline passed without a successful renewal");
            }
        }
    }

    private TimeSpan UntilEarliestLocalDeadline()
    {
        var earliest = long.MaxValue;
        foreach (var lease in context.Registry.Snapshot())
        {
            earliest = Math.Min(earliest, lease.LocalDeadline);
        }

        if (earliest == long.MaxValue)
        {
            return TimeSpan.MaxValue;
        }

        var ticks = earliest - context.Time.GetTimestamp();
        return ticks <= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds((double)ticks / context.Time.TimestampFrequency);
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
