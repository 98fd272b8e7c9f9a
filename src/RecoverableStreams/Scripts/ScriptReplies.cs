using StackExchange.Redis;

namespace RecoverableStreams.Scripts;

/// <summary>An LBS entry as a script returned it: its id, the fencing token of the new lease, and its fields.</summary>
internal sealed record AcquiredEntry(string Id, long FencingToken, IReadOnlyList<KeyValuePair<string, RedisValue>> Fields, string? PreviousConsumer);

/// <summary>What <c>read_acquire.lua</c> returned; <see cref="Left"/> is the undelivered backlog after the read (-1: unknown).</summary>
internal sealed record ReadAcquireReply(long ServerNowMs, long Left, IReadOnlyList<AcquiredEntry> Entries);

/// <summary>The outcome for one id in <c>claim.lua</c>.</summary>
internal enum ClaimStatus
{
    Claimed,
    Owned,
    NotFound,
}

/// <summary>One id's result in <c>claim.lua</c>: <see cref="Entry"/> when claimed, <see cref="Holder"/> when owned.</summary>
internal sealed record ClaimResult(string Id, ClaimStatus Status, AcquiredEntry? Entry, string? Holder);

/// <summary>What <c>claim.lua</c> returned.</summary>
internal sealed record ClaimReply(long ServerNowMs, long MillisecondsUntilNextDeadline, long ExpiredLeft, IReadOnlyList<ClaimResult> Results);

/// <summary>An expired or released entry as <c>find_expired.lua</c> listed it.</summary>
internal sealed record ExpiredEntry(string Id, IReadOnlyList<KeyValuePair<string, RedisValue>> Fields);

/// <summary>What <c>find_expired.lua</c> returned.</summary>
internal sealed record FindExpiredReply(long ServerNowMs, long MillisecondsUntilNextDeadline, string Watermark, IReadOnlyList<ExpiredEntry> Entries);

/// <summary>What <c>renew.lua</c> returned.</summary>
internal sealed record RenewReply(long ServerNowMs, IReadOnlyList<string> LostIds);

/// <summary>What one page of <c>reconcile.lua</c> returned.</summary>
internal sealed record ReconcilePage(int Seen, string LastId, int Repaired);
