using RecoverableStreams.Leasing;
using RecoverableStreams.Partitioning;

namespace RecoverableStreams.Rebalancing;

/// <summary>
/// The load of the whole service as one consumer sees it: every live session with what it owns over all partitions
/// and its capacity, and every stream that needs an owner. Read with one pipelined <c>loads.lua</c> call per
/// partition (partition 0 also keeps the advisory capacities), and shared for a moment by the partitions' schedulers.
/// </summary>
internal sealed class ServiceLoad(ClientContext context)
{
    /// <summary>How long a read serves the schedulers of every partition before it is read again.</summary>
    private static readonly TimeSpan FreshFor = TimeSpan.FromMilliseconds(50);

    private readonly Lock _lock = new();
    private Snapshot? _last;

    /// <summary>
    /// One reading: the live sessions with the counts Redis keeps, the total, this consumer's local count when it was
    /// read (to add what this consumer acquired or gave up since), and until when (a local timestamp) every session it
    /// lists is surely still live: the earliest of their deadlines. The same per partition in that partition's Redis
    /// time (<see cref="LiveUntilServerMs"/>, by partition index), which a claim's reply is compared with.
    /// </summary>
    internal sealed record Snapshot(IReadOnlyList<SessionLoad> Live, long Total, long ReadAt, int LocalCountAtRead, long LiveUntil, IReadOnlyList<long> LiveUntilServerMs);

    /// <summary>Reads the load now (and publishes this consumer's capacity).</summary>
    public async Task<Snapshot> ReadAsync(LeaseSession session)
    {
        var localCount = context.Registry.Count;
        var sentAt = context.Time.GetTimestamp();
        var replies = await Task.WhenAll(context.Partitions.Select(p =>
            p.Scripts.ReadLoadAsync(session.Id, p.Index == 0 ? context.Registry.Capacity : null))).ConfigureAwait(false);

        var owned = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var reply in replies)
        {
            foreach (var (id, count, _) in reply.Sessions)
            {
                owned[id] = owned.GetValueOrDefault(id) + Math.Max(0, count);
            }
        }

        // Partition 0 lists the live sessions with their capacities; a session opens in every partition at once.
        var live = new List<SessionLoad>(replies[0].Sessions.Count);
        foreach (var (id, _, capacity) in replies[0].Sessions)
        {
            var count = owned.GetValueOrDefault(id);
            // Unknown capacity (a consumer without rebalancing, or announce mode): never given more than it owns.
            live.Add(new SessionLoad(id, count, capacity >= 0 ? capacity : count));
        }

        // Measured from the send, so network time only shortens how long the reading counts as true.
        var firstDeadlineMs = replies.Select(r => r.MillisecondsUntilFirstDeadline).Where(ms => ms >= 0).DefaultIfEmpty(long.MaxValue / 2).Min();
        var liveUntil = sentAt + (long)Math.Min(firstDeadlineMs / 1000.0 * context.Time.TimestampFrequency, long.MaxValue / 4);
        var liveUntilServerMs = new long[replies.Length];
        for (var i = 0; i < replies.Length; i++)
        {
            var ms = replies[i].MillisecondsUntilFirstDeadline;
            liveUntilServerMs[context.Partitions[i].Index] = ms >= 0 ? replies[i].ServerNowMs + ms : long.MaxValue;
        }

        var snapshot = new Snapshot(live, replies.Sum(r => r.Total), context.Time.GetTimestamp(), localCount, liveUntil, liveUntilServerMs);
        lock (_lock)
        {
            _last = snapshot;
        }

        return snapshot;
    }

    /// <summary>
    /// What a change of the load shows in, read with a few pipelined commands and no script: how many sessions exist
    /// (a consumer joined, closed, or a dead one was reaped) and how many streams need an owner in each partition (a
    /// stream was announced, completed or released). A capacity comes with its session, so it changes only with it.
    /// </summary>
    public async Task<string> ReadFingerprintAsync()
    {
        var batch = context.Database.CreateBatch();
        var sessions = batch.SortedSetLengthAsync(context.Partitions[0].Keys.Sessions);
        var totals = context.Partitions
            .Select(p => (Records: batch.HashLengthAsync(p.Keys.Owners), Free: batch.SortedSetLengthAsync(p.Keys.Free)))
            .ToArray();
        batch.Execute();
        var parts = new List<long> { await sessions.ConfigureAwait(false) };
        foreach (var (records, free) in totals)
        {
            parts.Add(await records.ConfigureAwait(false));
            parts.Add(await free.ConfigureAwait(false));
        }

        return string.Join(',', parts);
    }

    /// <summary>
    /// How many streams that need an owner this consumer may claim now: up to its fair share and its free slots
    /// (<see cref="FairShare.ClaimLimit"/>), from a reading at most a moment old; how many streams no live session
    /// owns by that reading (the streams of dead sessions and the free ones), so a claimer can send its whole share at
    /// once; and until when, in <paramref name="partition"/>'s Redis time, the reading holds.
    /// </summary>
    public async Task<ClaimBudget> ClaimBudgetAsync(LeaseSession session, int freeSlots, Partition partition)
    {
        Snapshot? last;
        lock (_lock)
        {
            last = _last;
        }

        // A reading serves only while it is fresh and before the first session it lists may have died: a fair share
        // computed with a dead session still counted is too small, and what no one takes then waits a whole lease
        // for the next wake-up (measured: 832 of 10,000 streams re-owned 1.9 s late after a crash).
        // Nor past a peer's close heard since (a graceful shutdown wakes its peers right after it closes).
        if (last is null || context.Time.GetElapsedTime(last.ReadAt) > FreshFor || context.Time.GetTimestamp() >= last.LiveUntil
            || context.Partitions.Any(p => p.SessionClosedAt >= last.ReadAt))
        {
            last = await ReadAsync(session).ConfigureAwait(false);
        }

        // Redis's count for this session, plus what this consumer acquired (or gave up) since the reading.
        var change = context.Registry.Count - last.LocalCountAtRead;
        var live = last.Live
            .Select(l => string.Equals(l.Session, session.Id, StringComparison.Ordinal) ? l with { Owned = Math.Max(0, l.Owned + change) } : l)
            .ToArray();
        var unowned = last.Total - last.Live.Sum(l => (long)l.Owned);
        return new ClaimBudget(FairShare.ClaimLimit(live, last.Total, session.Id, freeSlots), Math.Max(0, unowned), last.LiveUntilServerMs[partition.Index]);
    }

    /// <summary>
    /// Drops the shared reading: a claim ran when a session it counts as live was dead already, so the next budget is
    /// read again whatever this process's clock says.
    /// </summary>
    public void Forget()
    {
        lock (_lock)
        {
            _last = null;
        }
    }

    /// <summary>
    /// What this consumer may claim now, how many streams wait for an owner (by the reading), and the Redis time of the
    /// partition at which a session the reading counts as live may be dead (a claim that ran then or later ran on a
    /// different load).
    /// </summary>
    internal readonly record struct ClaimBudget(int Limit, long Unowned, long LiveUntilServerMs);
}
