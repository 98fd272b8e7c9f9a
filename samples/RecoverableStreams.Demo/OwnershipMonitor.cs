using System.Diagnostics;
using StackExchange.Redis;

namespace RecoverableStreams.Demo;

/// <summary>
/// Reads who owns what straight from Redis, as an operator would: the ownership records hash <c>{L}:owners</c>
/// (field = LBS id, value <c>&lt;consumerId&gt;|&lt;session&gt;|&lt;token&gt;</c>, docs/ARCHITECTURE.md) and the
/// sessions sorted set <c>{L}:sessions</c>.
/// </summary>
internal sealed class OwnershipMonitor(IConnectionMultiplexer redis, RecoverableStreamOptions options)
{
    private readonly IDatabase _db = redis.GetDatabase(options.Database);
    private readonly string _prefix = "{" + (options.LbsStreamKey ?? options.ServiceName + "-input") + "}";

    public string LbsKey => options.LbsStreamKey ?? options.ServiceName + "-input";

    public string GroupName => options.ConsumerGroup ?? options.ServiceName + "-group";

    /// <summary>The owner (consumer id) of every leased LBS entry, by LBS id, and when the snapshot was taken.</summary>
    public async Task<OwnershipSnapshot> SnapshotAsync(Stopwatch clock)
    {
        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var record in await _db.HashGetAllAsync(_prefix + ":owners"))
        {
            owners[(string)record.Name!] = ((string)record.Value!).Split('|')[0];
        }

        return new OwnershipSnapshot(clock.Elapsed, owners);
    }

    /// <summary>Consumer ids that hold a session in <c>{L}:sessions</c>.</summary>
    public async Task<IReadOnlySet<string>> LiveConsumersAsync()
    {
        var members = await _db.SortedSetRangeByRankAsync(_prefix + ":sessions");
        return members.Select(m => ((string)m!).Split('|')[0]).ToHashSet(StringComparer.Ordinal);
    }
}

/// <summary>Owners by LBS id at one moment of the demo's clock.</summary>
internal sealed record OwnershipSnapshot(TimeSpan At, IReadOnlyDictionary<string, string> Owners)
{
    public int CountOwnedBy(string consumerId) => Owners.Values.Count(o => o == consumerId);

    public IReadOnlyList<string> OwnedBy(string consumerId) => [.. Owners.Where(o => o.Value == consumerId).Select(o => o.Key)];
}
