using System.Diagnostics;
using StackExchange.Redis;

namespace RecoverableStreams.Demo;

/// <summary>
/// Reads who owns what straight from Redis, as an operator would: the lease keys <c>{L}:lease:&lt;lbsId&gt;</c>
/// (value <c>&lt;consumerId&gt;|&lt;instance&gt;|&lt;token&gt;</c>, DESIGN.md section 4) found with SCAN, and the
/// consumers registry <c>{L}:consumers</c>.
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
        var keys = new List<RedisKey>();
        foreach (var server in redis.GetServers().Where(s => s.IsConnected && !s.IsReplica))
        {
            await foreach (var key in server.KeysAsync(_db.Database, _prefix + ":lease:*", pageSize: 1000))
            {
                keys.Add(key);
            }
        }

        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        if (keys.Count > 0)
        {
            // Every lease key shares L's hash slot, so one MGET works on a cluster too.
            var values = await _db.StringGetAsync([.. keys]);
            for (var i = 0; i < keys.Count; i++)
            {
                if (values[i].HasValue)
                {
                    var id = ((string)keys[i]!)[(_prefix.Length + ":lease:".Length)..];
                    owners[id] = ((string)values[i]!).Split('|')[0];
                }
            }
        }

        return new OwnershipSnapshot(clock.Elapsed, owners);
    }

    /// <summary>Consumer ids that have registered (heartbeat) in <c>{L}:consumers</c>.</summary>
    public async Task<IReadOnlySet<string>> LiveConsumersAsync()
    {
        var members = await _db.SortedSetRangeByRankAsync(_prefix + ":consumers");
        return members.Select(m => ((string)m!).Split('|')[0]).ToHashSet(StringComparer.Ordinal);
    }
}

/// <summary>Owners by LBS id at one moment of the demo's clock.</summary>
internal sealed record OwnershipSnapshot(TimeSpan At, IReadOnlyDictionary<string, string> Owners)
{
    public int CountOwnedBy(string consumerId) => Owners.Values.Count(o => o == consumerId);

    public IReadOnlyList<string> OwnedBy(string consumerId) => [.. Owners.Where(o => o.Value == consumerId).Select(o => o.Key)];
}
