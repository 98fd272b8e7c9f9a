using System.Text.Json;
using StackExchange.Redis;

namespace RecoverableStreams.Samples.Api;

/// <summary>
/// Who owns what, read from Redis as DESIGN.md section 4 lays it out: the lease keys <c>{L}:lease:&lt;lbsId&gt;</c>
/// (value <c>consumer|instance|token</c>, found with SCAN MATCH on the lease prefix), the LBS entry of each lease for
/// its data stream name, and the consumers registry <c>{L}:consumers</c> (member <c>consumer|instance</c>, score =
/// last heartbeat in ms).
/// </summary>
public sealed class OwnershipQuery(IConnectionMultiplexer redis, RecoverableStreamOptions options)
{
    private readonly string _lbs = options.LbsStreamKey ?? options.ServiceName + "-input";

    private string Prefix => _lbs.Contains('{', StringComparison.Ordinal) && _lbs.Contains('}', StringComparison.Ordinal) ? _lbs : "{" + _lbs + "}";

    public async Task<OwnershipView> ReadAsync(CancellationToken cancellationToken)
    {
        var db = redis.GetDatabase(options.Database);
        var leasePrefix = Prefix + ":lease:";
        var keys = new List<RedisKey>();
        foreach (var server in redis.GetServers().Where(s => s.IsConnected && !s.IsReplica))
        {
            await foreach (var key in server.KeysAsync(db.Database, leasePrefix + "*", pageSize: 500).WithCancellation(cancellationToken))
            {
                keys.Add(key);
            }
        }

        var leases = await Task.WhenAll(keys.Select(async key =>
        {
            var idInLbs = ((string)key!)[leasePrefix.Length..];
            var value = db.StringGetAsync(key);
            var ttl = db.KeyTimeToLiveAsync(key);
            var entry = db.StreamRangeAsync(_lbs, idInLbs, idInLbs, 1);
            await Task.WhenAll(value, ttl, entry);
            if (!value.Result.HasValue)
            {
                return null; // Completed or released between SCAN and GET.
            }

            var parts = ((string)value.Result!).Split('|');
            return new LeaseView(
                idInLbs,
                DataStreamName(entry.Result),
                parts[0],
                parts.Length > 2 && long.TryParse(parts[^1], out var token) ? token : 0,
                (long?)ttl.Result?.TotalMilliseconds);
        }));

        var consumers = (await db.SortedSetRangeByRankWithScoresAsync(Prefix + ":consumers"))
            .Select(c =>
            {
                var member = ((string)c.Element!).Split('|');
                return new ConsumerView(member[0], member.Length > 1 ? member[1] : "", DateTimeOffset.FromUnixTimeMilliseconds((long)c.Score));
            })
            .ToList();

        var owned = leases.OfType<LeaseView>().OrderBy(l => l.DataStreamName, StringComparer.Ordinal).ToList();
        var byConsumer = owned.GroupBy(l => l.Consumer).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var inLbs = await db.StreamLengthAsync(_lbs);
        return new OwnershipView(options.ServiceName!, _lbs, inLbs, consumers, byConsumer, owned);
    }

    private static string? DataStreamName(StreamEntry[] entries)
    {
        if (entries.Length == 0)
        {
            return null;
        }

        var payload = entries[0][(RedisValue)LbsInputMessage.FieldName];
        if (payload.IsNull)
        {
            return null;
        }

        try
        {
            using var json = JsonDocument.Parse((string)payload!);
            return json.RootElement.TryGetProperty("DataStreamName", out var name) ? name.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>The answer of <c>GET /streams</c>.</summary>
public sealed record OwnershipView(
    string Service,
    string LbsStream,
    long EntriesInLbs,
    IReadOnlyList<ConsumerView> Consumers,
    IReadOnlyDictionary<string, int> StreamsPerConsumer,
    IReadOnlyList<LeaseView> Leases);

/// <summary>One live consumer and its last heartbeat (Redis server clock).</summary>
public sealed record ConsumerView(string Consumer, string Instance, DateTimeOffset LastHeartbeat);

/// <summary>One held lease.</summary>
public sealed record LeaseView(string IdInLbs, string? DataStreamName, string Consumer, long FencingToken, long? ExpiresInMs);
