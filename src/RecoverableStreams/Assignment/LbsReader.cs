using RecoverableStreams.Diagnostics;
using RecoverableStreams.Leasing;
using RecoverableStreams.Notifications;
using StackExchange.Redis;

namespace RecoverableStreams.Assignment;

/// <summary>
/// Reads new LBS entries and leases them in the same script, only as many as there are free slots. StackExchange.Redis
/// cannot block on XREADGROUP, so the reader sleeps until a wake-up (keyspace <c>xadd</c>, the publisher's <c>added</c>
/// event, a freed slot) or <see cref="RecoverableStreamOptions.PollInterval"/>.
/// </summary>
internal sealed class LbsReader(ClientContext context, LeaseOperations leases)
{
    private const int MaxBatch = 100;

    public async Task RunAsync()
    {
        var stopping = context.Stopping;
        var failures = 0;
        while (!stopping.IsCancellationRequested)
        {
            var moreWaiting = false;
            try
            {
                moreWaiting = await ReadOnceAsync().ConfigureAwait(false);
                failures = 0;
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (RedisServerException ex) when (ex.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal))
            {
                Log.LbsKeyWrongType(context.Logger, context.Keys.Lbs, ex);
                context.Notifications.Terminate($"the LBS key '{context.Keys.Lbs}' holds a value that is not a stream");
                return;
            }
            catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
            {
                failures++;
                Log.ReadFailed(context.Logger, ex);
            }

            if (moreWaiting)
            {
                continue;
            }

            try
            {
                var wait = failures > 0 ? Backoff.For(failures, context.Options.PollInterval) : context.Options.PollInterval;
                await context.ReaderWake.WaitAsync(wait, context.Time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Reads once; returns <see langword="true"/> when a full batch came back (more may be waiting).</summary>
    private async Task<bool> ReadOnceAsync()
    {
        using var gate = await context.Registry.EnterAcquisitionAsync(context.Stopping).ConfigureAwait(false);
        var free = Math.Min(context.Registry.FreeSlots, MaxBatch);
        if (free == 0)
        {
            return false;
        }

        var sentAt = context.Time.GetTimestamp();
        var reply = await context.Scripts.ReadAndAcquireAsync(context.ConsumerId, free, context.LeaseValuePrefix, context.LeaseDuration).ConfigureAwait(false);
        foreach (var entry in reply.Entries)
        {
            var lease = await leases.AcceptAsync(entry, LeaseOrigin.Assigned, sentAt, reply.ServerNowMs).ConfigureAwait(false);
            if (lease is not null)
            {
                context.Notifications.Post(Notify.Added(lease));
            }
        }

        return reply.Entries.Count == free && context.Registry.FreeSlots > 0;
    }
}
