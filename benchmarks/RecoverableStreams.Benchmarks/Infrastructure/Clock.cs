using System.Diagnostics;
using StackExchange.Redis;

namespace RecoverableStreams.Benchmarks.Infrastructure;

/// <summary>
/// A monotonic clock in Unix milliseconds (wall clock read once, then the stopwatch), so event times can be compared
/// with lease deadlines, which Redis computes from its own clock (<c>TIME</c>).
/// </summary>
internal static class Clock
{
    private static readonly long StartTimestamp = Stopwatch.GetTimestamp();
    private static readonly double StartUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public static double NowMs => StartUnixMs + Stopwatch.GetElapsedTime(StartTimestamp).TotalMilliseconds;

    /// <summary>Redis clock minus this clock, in ms (half the round trip is the uncertainty).</summary>
    public static async Task<double> ServerOffsetMsAsync(IDatabase db)
    {
        var best = (Offset: 0.0, RoundTrip: double.MaxValue);
        for (var i = 0; i < 5; i++)
        {
            var before = NowMs;
            var time = (RedisResult[])(await db.ExecuteAsync("TIME"))!;
            var after = NowMs;
            var serverMs = ((long)time[0] * 1000.0) + ((long)time[1] / 1000.0);
            if (after - before < best.RoundTrip)
            {
                best = (serverMs - ((before + after) / 2), after - before);
            }
        }

        return best.Offset;
    }
}
