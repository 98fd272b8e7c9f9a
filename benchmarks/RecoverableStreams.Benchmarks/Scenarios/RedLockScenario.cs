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
            "L", "library", "acquired", "reported lost during hold", "lock-time reported not held (statuses sampled)", "reported held at end", "status at end", "key still ours in Redis at end", "extensions / renewals");

        foreach (var l in counts)
        {
            var redLock = await RedLockAsync(connectionString, l, hold);
            table.Add(l, "RedLock.net", redLock.Acquired, redLock.Lost, redLock.LostTime, redLock.Held, redLock.Status, redLock.KeysHeld, redLock.Extensions);
            Console.WriteLine($"  redlock, {l} locks done");
            var leases = await LeasesAsync(connectionString, l, hold);
            table.Add(l, "RecoverableStreams", leases.Acquired, leases.Lost, leases.LostTime, leases.Held, leases.Status, leases.KeysHeld, leases.Extensions);
            Console.WriteLine($"  leases, {l} leases done");
        }

        table.Note("RedLock: one RedLockFactory over one multiplexer, locks created concurrently with no wait/retry; 'lost' = Status observed other than Acquired (IsAcquired false) at least once after acquisition, sampled every 50 ms; 'lock-time not held' sums those samples over all locks, with the statuses seen; 'extensions' = sum of ExtendCount.");
        table.Note("RecoverableStreams: one consumer, LeaseDuration 2 s (renewal every 667 ms, one script call for all leases); 'lost' = StreamDisowned notifications; 'renewals' = renew script calls seen by the client's loop (hold / renew interval).");
        return [table];
    }

    private sealed record Outcome(int Acquired, int Lost, string LostTime, int Held, string Status, int KeysHeld, string Extensions);

    private static async Task<Outcome> RedLockAsync(string connectionString, int count, TimeSpan hold)
    {
        using var redis = await ConnectionMultiplexer.ConnectAsync(connectionString);
        using var factory = RedLockFactory.Create([new RedLockMultiplexer(redis)]);
        var prefix = $"redlock-{Guid.NewGuid():N}";
        var locks = await Task.WhenAll(Enumerable.Range(0, count).Select(i => factory.CreateLockAsync($"{prefix}-{i}", Expiry)));
        try
        {
            var acquired = locks.Where(l => l.IsAcquired).ToArray();
            var lost = new HashSet<IRedLock>();
            var lostStatuses = new Dictionary<RedLockStatus, int>();
            var lostSamples = 0;
            var watch = Stopwatch.StartNew();
            while (watch.Elapsed < hold)
            {
                foreach (var redLock in acquired)
                {
                    var status = redLock.Status;
                    if (status != RedLockStatus.Acquired)
                    {
                        lost.Add(redLock);
                        lostSamples++;
                        lostStatuses[status] = lostStatuses.GetValueOrDefault(status) + 1;
                    }
                }

                await Task.Delay(TimeSpan.FromMilliseconds(50));
            }

            // RedLock.net's default key format is "redlock:{resource}", holding the lock id while held.
            var db = redis.GetDatabase();
            var keysHeld = 0;
            foreach (var redLock in acquired)
            {
                if (await db.StringGetAsync("redlock:" + redLock.Resource) == redLock.LockId)
                {
                    keysHeld++;
                }
            }

            var statuses = string.Join(", ", acquired.GroupBy(l => l.Status).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}"));
            var seen = string.Join(", ", lostStatuses.OrderBy(p => p.Key).Select(p => $"{p.Key} {p.Value}"));
            return new Outcome(acquired.Length, lost.Count, $"{lostSamples * 50 / 1000.0:F1} s ({seen})", acquired.Count(l => l.IsAcquired), statuses, keysHeld, acquired.Sum(l => (long)l.ExtendCount).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        finally
        {
            foreach (var redLock in locks)
            {
                await redLock.DisposeAsync();
            }
        }
    }

    private static async Task<Outcome> LeasesAsync(string connectionString, int count, TimeSpan hold)
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
        var owned = consumer.Client.OwnedStreams;
        var db = redis.GetDatabase();
        var keys = Keys.StreamKeys.For(options);
        var keysHeld = 0;
        foreach (var lease in owned)
        {
            if (await db.StringGetAsync(keys.Lease(lease.IdInLbs)) == lease.LeaseValue)
            {
                keysHeld++;
            }
        }

        var status = $"owned {owned.Count(l => l.IsOwned)}";
        return new Outcome(count, consumer.Count(StreamNotificationType.StreamDisowned), "-", owned.Count, status, keysHeld, $"~{renewals} calls");
    }
}
