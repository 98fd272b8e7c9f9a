using RecoverableStreams.Diagnostics;
using RecoverableStreams.Partitioning;
using StackExchange.Redis;

namespace RecoverableStreams.Recovery;

/// <summary>
/// The safety net (docs/ARCHITECTURE.md): every <see cref="RecoverableStreamOptions.ReconcileInterval"/>, one consumer
/// at a time (a <c>SET NX PX</c> guard) compares cheap totals (<c>reconcile_totals.lua</c>: the group's pending count
/// against the ownership records plus the free-now index, and whether every owning session exists); only when they
/// disagree does it page through the whole pending list, following the cursor to its end, and put every entry idle
/// longer than a lease that has no ownership record (or one naming a session that no longer exists) into the free-now
/// index. The scheduler then hands those out fairly. Runs once at start, in the background, in bounded pages.
/// </summary>
internal sealed class PendingReconciler(ClientContext context, Partition partition)
{
    private const int PageSize = 500;

    public async Task RunAsync()
    {
        var stopping = context.Stopping;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await ReconcileOnceAsync().ConfigureAwait(false);
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
                Log.ReconcileFailed(context.Logger, ex);
            }

            try
            {
                await Task.Delay(context.Options.ReconcileInterval, context.Time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Runs one pass when this consumer wins the guard and the totals disagree; returns the entries repaired, or -1 when
    /// another consumer has the turn.
    /// </summary>
    public async Task<int> ReconcileOnceAsync()
    {
        var won = await context.Database.StringSetAsync(partition.Keys.ReconcileGuard, context.ConsumerMember, context.Options.ReconcileInterval, When.NotExists).ConfigureAwait(false);
        if (!won)
        {
            return -1;
        }

        // A few commands whatever the size of the pending list: nothing to repair, nothing to page.
        var totals = await partition.Scripts.ReadPendingTotalsAsync().ConfigureAwait(false);
        if (totals.Agree)
        {
            // A pass all the same (event 302, with no page read): the start-up reconciliation is over.
            Log.Reconciled(context.Logger, 0, 0);
            return 0;
        }

        var start = "-";
        var repaired = 0;
        var pages = 0;
        while (!context.Stopping.IsCancellationRequested)
        {
            var page = await partition.Scripts.ReconcilePageAsync(start, PageSize, context.LeaseDuration).ConfigureAwait(false);
            pages++;
            partition.OnPendingPageRead();
            repaired += page.Repaired;
            if (page.Repaired > 0)
            {
                // Let this consumer and its peers start handing out the repaired entries while the pass goes on.
                partition.SchedulerWake.Set();
                await context.Redis.GetSubscriber().PublishAsync(RedisChannel.Literal(partition.Keys.Events), "repaired").ConfigureAwait(false);
            }

            if (page.Seen < PageSize)
            {
                break;
            }

            start = "(" + page.LastId;
        }

        Log.Reconciled(context.Logger, pages, repaired);
        return repaired;
    }
}
