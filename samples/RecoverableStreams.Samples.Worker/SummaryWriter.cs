using System.Globalization;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace RecoverableStreams.Samples.Worker;

/// <summary>
/// Writes the result hash <c>&lt;service&gt;:summary:&lt;dataStream&gt;</c> with a fencing check: a write carrying a
/// lower token than the stored one is refused, so a stale owner (paused, partitioned) can never overwrite the result
/// of the owner that replaced it. Compare and set in one script, so no other write can come between.
/// </summary>
public sealed class SummaryWriter(IConnectionMultiplexer redis, IOptions<RecoverableStreamOptions> options)
{
    private const string Script = """
        local stored = redis.call('HGET', KEYS[1], 'token')
        if stored and tonumber(stored) > tonumber(ARGV[4]) then
          return 0
        end
        redis.call('HSET', KEYS[1], 'sum', ARGV[1], 'count', ARGV[2], 'owner', ARGV[3], 'token', ARGV[4])
        return 1
        """;

    public static string Key(string serviceName, string dataStreamName) => $"{serviceName}:summary:{dataStreamName}";

    /// <summary>Writes the summary unless a newer owner already did.</summary>
    /// <returns><see langword="true"/> when written; <see langword="false"/> when a higher fencing token was stored.</returns>
    public async Task<bool> WriteAsync(string serviceName, string dataStreamName, TelemetryState state, string owner, long fencingToken)
    {
        var result = await redis.GetDatabase(options.Value.Database).ScriptEvaluateAsync(
            Script,
            [Key(serviceName, dataStreamName)],
            [
                state.Sum.ToString(CultureInfo.InvariantCulture),
                state.Count.ToString(CultureInfo.InvariantCulture),
                owner,
                fencingToken.ToString(CultureInfo.InvariantCulture),
            ]);
        return (long)result == 1;
    }
}
