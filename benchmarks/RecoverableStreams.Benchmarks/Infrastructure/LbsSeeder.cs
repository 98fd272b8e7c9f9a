using RecoverableStreams.Keys;
using RecoverableStreams.Parsing;
using StackExchange.Redis;

namespace RecoverableStreams.Benchmarks.Infrastructure;

/// <summary>Announces many data streams quickly: pipelined XADDs of the Go-compatible entry, then one wake-up.</summary>
internal static class LbsSeeder
{
    public static async Task<IReadOnlyList<string>> AddStreamsAsync(IConnectionMultiplexer redis, RecoverableStreamOptions options, int count, string prefix)
    {
        var keys = StreamKeys.For(options);
        var db = redis.GetDatabase(options.Database);
        var ids = new List<string>(count);
        for (var start = 0; start < count; start += 1000)
        {
            var batch = Enumerable.Range(start, Math.Min(1000, count - start))
                .Select(i => db.StreamAddAsync(keys.Lbs, LbsInputMessage.FieldName, LbsEntryParser.Serialize($"{prefix}-{i}", null)))
                .ToArray();
            foreach (var id in await Task.WhenAll(batch))
            {
                ids.Add(id!);
            }
        }

        await redis.GetSubscriber().PublishAsync(RedisChannel.Literal(keys.Events), "added");
        return ids;
    }
}
