using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Infrastructure;

/// <summary>Reads and bends the session-lease state in Redis (docs/ARCHITECTURE.md, "Data model") for tests.</summary>
public static class Ownership
{
    /// <summary>The ownership record of a stream (<c>sessionId|token</c>), or <see langword="null"/>.</summary>
    internal static async Task<string?> RecordAsync(IDatabase db, StreamKeys keys, string idInLbs) => await db.HashGetAsync(keys.Owners, idInLbs);

    /// <summary>The deadline (Redis clock, ms) of a session, or <see langword="null"/> when it is not in the sessions set.</summary>
    internal static async Task<double?> DeadlineAsync(IDatabase db, StreamKeys keys, string sessionId) => await db.SortedSetScoreAsync(keys.Sessions, sessionId);

    /// <summary>Makes a session dead in Redis at once (deadline 0), as if its owner had been frozen past it.</summary>
    internal static Task KillSessionAsync(IDatabase db, StreamKeys keys, string sessionId) =>
        db.SortedSetAddAsync(keys.Sessions, sessionId, 0, SortedSetWhen.Exists);

    /// <summary>The members of the session → streams index that belong to one session.</summary>
    internal static async Task<string[]> OwnedByAsync(IDatabase db, StreamKeys keys, string sessionId)
    {
        var members = await db.SortedSetRangeByValueAsync(keys.Owned, sessionId + "\0", sessionId + "\u0001", Exclude.Stop);
        return members.Select(m => ((string)m!)[(sessionId.Length + 1)..]).ToArray();
    }

    /// <summary>The server time in Unix milliseconds.</summary>
    internal static async Task<long> ServerNowMsAsync(IDatabase db)
    {
        var time = (RedisResult[])(await db.ExecuteAsync("TIME"))!;
        return ((long)time[0] * 1000) + ((long)time[1] / 1000);
    }
}
