using System.Diagnostics;
using StackExchange.Redis;

namespace RecoverableStreams.Benchmarks.Scenarios;

/// <summary>
/// One held lock or lease: its Redis key (and hash field, for a session lease's ownership record in one hash), the value
/// that means "ours", and what its library reports. The items of one sample are all plain keys or all fields of one hash.
/// </summary>
internal sealed record HeldItem(string Key, string Value, Func<bool> ReportedHeld, Func<string> Status, string? Field = null);

/// <summary>What a hold looked like, sampled every 50 ms against the library's own view and the key in Redis.</summary>
internal sealed record HoldOutcome(
    int Items,
    int ReportedLost,
    int LostInRedis,
    double HeldWithoutKeySeconds,
    int Samples,
    int TimedOutSamples,
    TimeSpan Elapsed,
    TimeSpan LastSampleAt,
    int ReportedHeldAtEnd,
    int KeysOursAtEnd,
    string StatusesAtEnd,
    string PoolAtEnd);

/// <summary>
/// Samples a hold on a dedicated thread with synchronous Redis calls on its own connection: RedLock.net's timers block
/// thread-pool threads, which would starve a sampler that ran on the pool.
/// </summary>
internal static class HoldSampler
{
    public static async Task<HoldOutcome> SampleAsync(string connectionString, IReadOnlyList<HeldItem> items, TimeSpan hold)
    {
        // A short timeout: a sample that cannot get an answer (the client's reads need the thread pool) is counted, not waited for.
        using var redis = await ConnectionMultiplexer.ConnectAsync(connectionString + ",syncTimeout=1000");
        HoldOutcome? outcome = null;
        var sampler = new Thread(() => outcome = Sample(redis, items, hold)) { IsBackground = true, Name = "hold-sampler" };
        sampler.Start();
        // Joined without the pool, which may be starved.
        await Task.Factory.StartNew(sampler.Join, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        return outcome!;
    }

    /// <summary>Samples on the calling thread until <paramref name="hold"/> has passed; needs no thread-pool thread itself.</summary>
    public static HoldOutcome Sample(IConnectionMultiplexer redis, IReadOnlyList<HeldItem> items, TimeSpan hold)
    {
        var db = redis.GetDatabase();
        var keys = items.Select(i => (RedisKey)i.Key).ToArray();
        var fields = items.Select(i => (RedisValue)i.Field).ToArray();
        var inHash = items.Count > 0 && items[0].Field is not null;
        var reportedLost = new bool[items.Count];
        var lostInRedis = new bool[items.Count];
        var heldWithoutKey = 0;
        var samples = 0;
        var timeouts = 0;
        var poolAtEnd = "";
        var lastSampleAt = TimeSpan.Zero;
        var lastOurs = new bool[items.Count];
        var lastReported = new bool[items.Count];
        var watch = Stopwatch.StartNew();
        {
            while (watch.Elapsed < hold)
            {
                RedisValue[] values;
                try
                {
                    values = inHash ? db.HashGet(keys[0], fields) : db.StringGet(keys);
                }
                catch (RedisTimeoutException)
                {
                    timeouts++;
                    continue;
                }

                samples++;
                lastSampleAt = watch.Elapsed;
                for (var i = 0; i < items.Count; i++)
                {
                    var ours = values[i] == items[i].Value;
                    var reported = items[i].ReportedHeld();
                    lostInRedis[i] |= !ours;
                    reportedLost[i] |= !reported;
                    heldWithoutKey += reported && !ours ? 1 : 0;
                    lastOurs[i] = ours;
                    lastReported[i] = reported;
                }

                Thread.Sleep(50);
            }

            poolAtEnd = $"{ThreadPool.ThreadCount} pool threads, {ThreadPool.PendingWorkItemCount} queued";
        }

        var elapsed = watch.Elapsed;
        var statuses = string.Join(", ", items.GroupBy(i => i.Status()).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} {g.Count()}"));
        return new HoldOutcome(
            items.Count,
            reportedLost.Count(x => x),
            lostInRedis.Count(x => x),
            samples == 0 ? 0 : elapsed.TotalSeconds * heldWithoutKey / samples,
            samples,
            timeouts,
            elapsed,
            lastSampleAt,
            lastReported.Count(x => x),
            lastOurs.Count(x => x),
            statuses,
            poolAtEnd);
    }
}
