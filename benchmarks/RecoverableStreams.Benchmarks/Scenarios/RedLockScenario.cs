using System.Diagnostics;
using RecoverableStreams.Benchmarks.Infrastructure;
using RedLockNet;
using RedLockNet.SERedis;
using RedLockNet.SERedis.Configuration;
using StackExchange.Redis;

namespace RecoverableStreams.Benchmarks.Scenarios;

/// <summary>
/// DESIGN.md section 7a: RedLock.net 2.3.2 holding L concurrent 2 s locks (auto-extended, one timer per lock) against
/// this library holding L leases of 2 s on one consumer (one batched renewal per interval), for the same time on the
/// same Redis. Counts what each lost: a lock whose <c>IsAcquired</c> turned false (sampled every 50 ms), a lease that
/// raised <c>StreamDisowned</c>.
/// </summary>
internal static class RedLockScenario
{
    private static readonly TimeSpan Expiry = TimeSpan.FromSeconds(2);

    public static async Task<IReadOnlyList<ResultTable>> RunAsync(string connectionString, BenchArguments args)
    {
        var counts = args.Ints("locks", 5, 50, 500);
        var hold = TimeSpan.FromSeconds(args.Double("hold-seconds", 20));
        var table = new ResultTable(
            $"redlock: L concurrent 2 s locks/leases held for {hold.TotalSeconds:F0} s (RedLock.net 2.3.2 vs RecoverableStreams)",
            "L", "library", "acquired", "lost during hold", "still held at end", "extensions / renewals");

        foreach (var l in counts)
        {
            var (acquired, lost, held, extensions) = await RedLockAsync(connectionString, l, hold);
            table.Add(l, "RedLock.net", acquired, lost, held, extensions);
            Console.WriteLine($"  redlock, {l} locks done");
            (acquired, lost, held, extensions) = await LeasesAsync(connectionString, l, hold);
            table.Add(l, "RecoverableStreams", acquired, lost, held, extensions);
            Console.WriteLine($"  leases, {l} leases done");
        }

        table.Note("RedLock: one RedLockFactory over one multiplexer, locks created concurrently with no wait/retry; 'lost' = IsAcquired observed false at least once (sampled every 50 ms) after acquisition; 'extensions' = sum of ExtendCount.");
        table.Note("RecoverableStreams: one consumer, LeaseDuration 2 s (renewal every 667 ms, one script call for all leases); 'lost' = StreamDisowned notifications; 'renewals' = renew script calls seen by the client's loop (hold / renew interval).");
        return [table];
    }

    private static async Task<(int Acquired, int Lost, int Held, string Extensions)> RedLockAsync(string connectionString, int count, TimeSpan hold)
    {
        using var redis = await ConnectionMultiplexer.ConnectAsync(connectionString);
        using var factory = RedLockFactory.Create([new RedLockMultiplexer(redis)]);
        var prefix = $"redlock-{Guid.NewGuid():N}";
        var locks = await Task.WhenAll(Enumerable.Range(0, count).Select(i => factory.CreateLockAsync($"{prefix}-{i}", Expiry)));
        try
        {
            var acquired = locks.Where(l => l.IsAcquired).ToArray();
            var lost = new HashSet<IRedLock>();
            var watch = Stopwatch.StartNew();
            while (watch.Elapsed < hold)
            {
                foreach (var redLock in acquired)
                {
                    if (!redLock.IsAcquired)
                    {
                        lost.Add(redLock);
                    }
                }

                await Task.Delay(TimeSpan.FromMilliseconds(50));
            }

            return (acquired.Length, lost.Count, acquired.Count(l => l.IsAcquired), acquired.Sum(l => (long)l.ExtendCount).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        finally
        {
            foreach (var redLock in locks)
            {
                await redLock.DisposeAsync();
            }
        }
    }

    private static async Task<(int Acquired, int Lost, int Held, string Renewals)> LeasesAsync(string connectionString, int count, TimeSpan hold)
    {
        using var redis = await ConnectionMultiplexer.ConnectAsync(connectionString);
        var options = new RecoverableStreamOptions
        {
            ServiceName = $"leases-{Guid.NewGuid():N}",
            LeaseDuration = Expiry,
            MaxConcurrentStreams = count,
            ReconcileInterval = TimeSpan.FromMinutes(10),
        };
        await using var consumer = await BenchConsumer.StartAsync(redis, options);
        await LbsSeeder.AddStreamsAsync(redis, options, count, options.ServiceName + "-data");
        await Wait.UntilAsync(() => consumer.Client.OwnedStreams.Count == count, TimeSpan.FromSeconds(60), $"{count} owned streams", 10);
        await Task.Delay(hold);
        var renewals = (int)(hold / (Expiry / 3));
        return (count, consumer.Count(StreamNotificationType.StreamDisowned), consumer.Client.OwnedStreams.Count, $"~{renewals} calls");
    }
}
