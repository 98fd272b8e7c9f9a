using System.Text.Json;
using StackExchange.Redis;

namespace RecoverableStreams.Samples.Api;

/// <summary>
/// Who owns what, read from Redis as docs/ARCHITECTURE.md ("Data model") lays it out: the ownership records hash
/// <c>{L}:owners</c> (field = LBS entry id, value <c>consumer|session|token</c>), the LBS entry of each record for its
/// data stream name, and the sessions sorted set <c>{L}:sessions</c> (member <c>consumer|session</c>, score = the
/// session's deadline in ms, Redis clock).
/// </summary>
public sealed class OwnershipQuery(IConnectionMultiplexer redis, RecoverableStreamOptions options)
{
    private readonly string _lbs = options.LbsStreamKey ?? options.ServiceName + "-input";

    private string Prefix => _lbs.Contains('{', StringComparison.Ordinal) && _lbs.Contains('}', StringComparison.Ordinal) ? _lbs : "{" + _lbs + "}";

    public async Task<OwnershipView> ReadAsync(CancellationToken cancellationToken)
    {
        var db = redis.GetDatabase(options.Database);
        var sessions = await db.SortedSetRangeByRankWithScoresAsync(Prefix + ":sessions");
        var deadlines = sessions.ToDictionary(s => (string)s.Element!, s => (long)s.Score, StringComparer.Ordinal);
        var time = (RedisResult[])(await db.ExecuteAsync("TIME"))!;
        var nowMs = ((long)time[0] * 1000) + ((long)time[1] / 1000);

        var records = new List<(string IdInLbs, string Value)>();
        await foreach (var field in db.HashScanAsync(Prefix + ":owners", pageSize: 500).WithCancellation(cancellationToken))
        {
            records.Add(((string)field.Name!, (string)field.Value!));
        }

        var leases = await Task.WhenAll(records.Select(async record =>
        {
            var entry = await db.StreamRangeAsync(_lbs, record.IdInLbs, record.IdInLbs, 1);
            var tokenBar = record.Value.LastIndexOf('|');
            var session = tokenBar > 0 ? record.Value[..tokenBar] : record.Value;
            deadlines.TryGetValue(session, out var deadline);
            return new LeaseView(
                record.IdInLbs,
                DataStreamName(entry),
                session.Split('|')[0],
                long.TryParse(record.Value[(tokenBar + 1)..], out var token) ? token : 0,
                deadline > 0 ? deadline - nowMs : null);
        }));

        var consumers = sessions
            .Select(c =>
            {
                var member = ((string)c.Element!).Split('|');
                return new ConsumerView(member[0], member.Length > 1 ? member[1] : "", DateTimeOffset.FromUnixTimeMilliseconds((long)c.Score));
            })
            .ToList();

        var owned = leases.OrderBy(l => l.DataStreamName, StringComparer.Ordinal).ToList();
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

/// <summary>One consumer session and its deadline (Redis server clock; a deadline in the past means the session is dead).</summary>
public sealed record ConsumerView(string Consumer, string Session, DateTimeOffset Deadline);

/// <summary>One held stream: its record, and how long its session has left (negative: dead, not yet taken over).</summary>
public sealed record LeaseView(string IdInLbs, string? DataStreamName, string Consumer, long FencingToken, long? ExpiresInMs);
