namespace RecoverableStreams.Rebalancing;

/// <summary>One live consumer session as the rebalancer sees it: what it owns and the most it may own.</summary>
/// <param name="Session">The session id.</param>
/// <param name="Owned">Streams it owns, over all partitions.</param>
/// <param name="Capacity">Its <see cref="RecoverableStreamOptions.MaxConcurrentStreams"/>; its <paramref name="Owned"/> when unknown (it is then never given more).</param>
internal readonly record struct SessionLoad(string Session, int Owned, int Capacity);

/// <summary>
/// Fair shares across live consumers, capacity-aware (water filling): every consumer's target is min(capacity, T) for
/// the smallest T whose targets cover every stream that needs an owner. Targets of consumers with room differ by at most
/// one, so owned counts converge to max/min ≤ 1.2 once a service has more than ~5 streams per consumer.
/// </summary>
internal static class FairShare
{
    /// <summary>The target of each live session, in the order given.</summary>
    /// <param name="live">The live sessions.</param>
    /// <param name="total">Every stream that needs an owner: owned by live or dead sessions, or free.</param>
    public static int[] Targets(IReadOnlyList<SessionLoad> live, long total)
    {
        var targets = new int[live.Count];
        if (live.Count == 0)
        {
            return targets;
        }

        // Water filling: the smallest level T with sum(min(capacity, T)) >= total, found by walking capacities upwards.
        var capacities = live.Select(l => Math.Max(0, l.Capacity)).Order().ToArray();
        var remaining = total;
        var level = (long)capacities[^1];
        for (var i = 0; i < capacities.Length; i++)
        {
            var others = capacities.Length - i;
            var fill = (remaining + others - 1) / others;
            if (fill <= capacities[i])
            {
                level = Math.Max(0, fill);
                break;
            }

            remaining -= capacities[i];
        }

        for (var i = 0; i < live.Count; i++)
        {
            targets[i] = (int)Math.Min(Math.Max(0, live[i].Capacity), level);
        }

        return targets;
    }

    /// <summary>
    /// How many of its streams <paramref name="self"/> should hand over now: its excess over its target, at most
    /// <paramref name="maxPerRound"/>. Targets cover every stream (their sum is at least <paramref name="total"/>), so
    /// whenever one consumer is over its target, the others' room below theirs exceeds the free streams by at least
    /// that excess: what is handed over has somewhere to go.
    /// </summary>
    public static int HandOverCount(IReadOnlyList<SessionLoad> live, long total, string self, int maxPerRound)
    {
        var me = IndexOf(live, self);
        if (me < 0)
        {
            return 0;
        }

        var excess = live[me].Owned - Targets(live, total)[me];
        return Math.Max(0, Math.Min(excess, maxPerRound));
    }

    /// <summary>
    /// How many free streams <paramref name="self"/> may claim: up to its target and its free slots, so an over-share
    /// consumer never takes back what it just handed over and under-share consumers fill up first.
    /// </summary>
    public static int ClaimLimit(IReadOnlyList<SessionLoad> live, long total, string self, int freeSlots)
    {
        var me = IndexOf(live, self);
        if (me < 0)
        {
            // Not seen as live yet (a count read before this session opened): the plain capacity rule applies.
            return freeSlots;
        }

        var targets = Targets(live, total);
        return Math.Max(0, Math.Min(freeSlots, targets[me] - live[me].Owned));
    }

    private static int IndexOf(IReadOnlyList<SessionLoad> live, string session)
    {
        for (var i = 0; i < live.Count; i++)
        {
            if (string.Equals(live[i].Session, session, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }
}
