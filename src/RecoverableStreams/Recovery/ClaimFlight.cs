using RecoverableStreams.Leasing;
using RecoverableStreams.Partitioning;
using RecoverableStreams.Scripts;

namespace RecoverableStreams.Recovery;

/// <summary>
/// The rest of a consumer's fair share after a wake-up's first claim call, claimed in calls of at most 1,000 streams
/// (the caller's share already: not capped again) with at most <see cref="MaxCallsInFlight"/> sent ahead of the replies
/// read so far, so Redis runs them back to back while this process accepts the previous reply.
/// </summary>
/// <remarks>
/// Not the whole share at once: a survivor of a crash at 250,000 streams sent 7 calls per partition, 28 per Redis
/// shard, and the session's renewal, on the same connection, came back after them (each call ≈ 13 ms of the shard's
/// time, and Redis runs one client's pipelined calls back to back): past its local deadline, every lease ended, and the
/// streams claimed so far became orphans again. Two in flight keep Redis busy and the queue ahead of a renewal short.
/// </remarks>
internal sealed class ClaimFlight(ClientContext context, Partition partition, LeaseSession session, int streams)
{
    /// <summary>Claim calls of one partition's flight sent and not yet read.</summary>
    public const int MaxCallsInFlight = 2;

    private readonly Queue<Task<ClaimReply>> _sent = new();
    private int _unsent = streams;

    /// <summary>Sends calls until <see cref="MaxCallsInFlight"/> are in flight or the share is asked for.</summary>
    public void Send()
    {
        while (_sent.Count < MaxCallsInFlight && _unsent > 0)
        {
            var count = Math.Min(_unsent, StreamScripts.MaxItemsPerCall);
            _unsent -= count;
            _sent.Enqueue(partition.Scripts.ClaimOrphansAsync(context.ConsumerId, session.Id, count, capacityIsShare: true));
        }
    }

    /// <summary>The oldest call in flight, after sending the next one (so Redis has it while this process reads).</summary>
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
