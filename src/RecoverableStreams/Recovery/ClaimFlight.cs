using RecoverableStreams.Leasing;
using RecoverableStreams.Partitioning;
using RecoverableStreams.Scripts;

namespace RecoverableStreams.Recovery;

/// <summary>
/// The rest of a consumer's fair share after a wake-up's first claim call, claimed in calls of at most the budget's
/// <see cref="ClaimCallBudget.StreamsPerCall"/> (250 streams while renewals are fast)
/// (the caller's share already: not capped again), as many in flight as the consumer's <see cref="ClaimCallBudget"/>
/// allows and always at least one, so Redis runs them back to back while this process accepts the replies.
/// </summary>
/// <remarks>
/// Not the whole share at once: a survivor of a crash at 250,000 streams sent 7 calls per partition, 28 per Redis
/// shard, and the session's renewal, on the same connection, came back after them (each call ≈ 13 ms of the shard's
/// time, and Redis runs one client's pipelined calls back to back): past its local deadline, every lease ended, and the
/// streams claimed so far became orphans again.
/// </remarks>
internal sealed class ClaimFlight(ClientContext context, Partition partition, LeaseSession session, ClaimCallBudget budget, int streams)
{
    private readonly Queue<Task<ClaimReply>> _sent = new();
    private int _unsent = streams;

    /// <summary>Sends calls while the budget allows (and one when none of this flight is in flight) until the share is asked for.</summary>
    public void Send()
    {
        while (_unsent > 0)
        {
            var budgeted = budget.TryTake();
            if (!budgeted && _sent.Count > 0)
            {
                return;
            }

            var count = Math.Min(_unsent, budget.StreamsPerCall);
            _unsent -= count;
            var call = partition.Scripts.ClaimOrphansAsync(context.ConsumerId, session.Id, count, capacityIsShare: true);
            if (budgeted)
            {
                // The slot is the call's until its reply (or failure) is here, whoever reads it.
                _ = call.ContinueWith(static (_, state) => ((ClaimCallBudget)state!).Return(), budget, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }

            _sent.Enqueue(call);
        }
    }

    /// <summary>The oldest call in flight, after sending what the budget allows (so Redis has work while this process reads).</summary>
    public bool TryNext(out Task<ClaimReply> call)
    {
        if (!_sent.TryDequeue(out call!))
        {
            return false;
        }

        Send();
        return true;
    }

    /// <summary>
    /// Sends nothing more (the session died, a call failed, or nothing is left to claim); the calls already sent are
    /// still read, since a grant that reached Redis must become a lease.
    /// </summary>
    public void Stop() => _unsent = 0;
}
