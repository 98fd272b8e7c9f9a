using StackExchange.Redis;

namespace RecoverableStreams.Scripts;

/// <summary>An LBS entry as a script returned it: its id, the fencing token of the new grant, and its fields.</summary>
internal sealed record AcquiredEntry(string Id, long FencingToken, IReadOnlyList<KeyValuePair<string, RedisValue>> Fields, string? PreviousConsumer);

/// <summary>An LBS entry that announced a name whose announcement is still live: dead-lettered as <c>duplicate</c>.</summary>
internal sealed record DuplicateEntry(string Id, string DataStreamName, string LiveId);

/// <summary>An LBS entry over a size or field limit: dead-lettered by the script itself, its fields never returned.</summary>
internal sealed record RefusedEntry(string Id, string Reason);

/// <summary>
/// What <c>read_acquire.lua</c> returned; <see cref="Left"/> is the undelivered backlog after the read (-1: unknown);
/// <see cref="SessionLive"/> is <see langword="false"/> when the caller's session was dead (nothing was read).
/// </summary>
internal sealed record ReadAcquireReply(long ServerNowMs, long Left, bool SessionLive, IReadOnlyList<AcquiredEntry> Entries, IReadOnlyList<DuplicateEntry> Duplicates, IReadOnlyList<RefusedEntry> Refused);

/// <summary>The outcome for one id in <c>claim.lua</c>.</summary>
internal enum ClaimStatus
{
    Claimed,
    Owned,
    NotFound,
}

/// <summary>One id's result in <c>claim.lua</c>: <see cref="Entry"/> when claimed, <see cref="Holder"/> (the record) when owned.</summary>
internal sealed record ClaimResult(string Id, ClaimStatus Status, AcquiredEntry? Entry, string? Holder);

/// <summary>
/// What <c>claim.lua</c> returned; <see cref="SessionLive"/> is <see langword="false"/> when the caller's session was
/// dead (nothing was claimed). <see cref="OrphansLeft"/> counts the streams still needing an owner among the free-now
/// index and the dead sessions this call visited; <see cref="DeadSessionsLeft"/> says more dead sessions wait beyond
/// the 1,000 one call visits (call again at once: they may own streams). <see cref="FairShare"/> is how many the
/// caller should take now, before its capacity and the 1,000 bound (orphans mode; 0 otherwise).
/// </summary>
internal sealed record ClaimReply(long ServerNowMs, long MillisecondsUntilNextDeadline, long OrphansLeft, bool SessionLive, bool DeadSessionsLeft, long FairShare, IReadOnlyList<ClaimResult> Results);

/// <summary>A stream that needs an owner, as <c>find_orphans.lua</c> listed it.</summary>
internal sealed record OrphanEntry(string Id, IReadOnlyList<KeyValuePair<string, RedisValue>> Fields);

/// <summary>What <c>find_orphans.lua</c> returned; <see cref="NextOffset"/> is 0 when the listing reached the end.</summary>
internal sealed record FindOrphansReply(long ServerNowMs, long MillisecondsUntilNextDeadline, long NextOffset, IReadOnlyList<OrphanEntry> Entries);

/// <summary>
/// What <c>open_session.lua</c> and <c>renew.lua</c> returned: the session's deadline, or 0 when refused, and (renewal
/// only; 0 otherwise) how many streams Redis records for the session.
/// </summary>
internal sealed record SessionReply(long ServerNowMs, long DeadlineMs, long OwnedCount = 0)
{
    public bool Accepted => DeadlineMs > 0;
}

/// <summary>The outcome of an ownership-checked write.</summary>
internal enum WriteOutcome
{
    /// <summary>Written.</summary>
    Done,

    /// <summary>The stream's record does not name the caller's session and token: this stream was lost.</summary>
    NotOwner,

    /// <summary>The caller's session is dead (deadline passed, or gone): every stream of the session was lost.</summary>
    SessionDead,

    /// <summary>
    /// Written on the primary, but no replica acknowledged it in time: a failover now could lose it. The caller still
    /// owns the stream; the same write again is safe (a completion that took effect answers done).
    /// </summary>
    Unreplicated,
}

/// <summary>What one page of <c>reconcile.lua</c> returned.</summary>
internal sealed record ReconcilePage(int Seen, string LastId, int Repaired);

/// <summary>
/// What <c>reconcile_totals.lua</c> counted: the group's pending entries, the ownership records, the free-now index,
/// and the sessions named by a count that no longer exist (-1: too many counts to check).
/// </summary>
internal sealed record PendingTotals(long Pending, long Records, long Free, long MissingSessions)
{
    /// <summary>Whether a pass has nothing to repair: every pending entry is owned or free, and every owner exists.</summary>
    public bool Agree => Pending >= 0 && Pending == Records + Free && MissingSessions == 0;
}

/// <summary>What <c>close_session.lua</c> did.</summary>
internal enum CloseOutcome
{
    Removed,
    MarkedDead,
    Missing,
}

/// <summary>
/// What <c>loads.lua</c> returned: streams that need an owner in the partition, each live session's count there (and
/// capacity, -1 when unknown or not asked), and how long until the first of those sessions may die (-1: none live).
/// </summary>
internal sealed record PartitionLoadReply(long ServerNowMs, long Total, long MillisecondsUntilFirstDeadline, IReadOnlyList<(string Session, int Owned, int Capacity)> Sessions);
