using System.Diagnostics;
using System.Globalization;
using RecoverableStreams.Benchmarks.Infrastructure;
using RedLockNet.SERedis;
using RedLockNet.SERedis.Configuration;
using StackExchange.Redis;

namespace RecoverableStreams.Benchmarks.Suite;

/// <summary>
/// RedLock.net 2.3.2 holding L auto-extended locks in a child process (<c>redlock-hold</c>; its per-lock timers starve
/// a thread pool, see the redlock scenario), while this process measures Redis and checks the keys. The child prints
/// <c>ACQUIRED n</c> once its locks are taken and holds them until it is killed.
/// </summary>
internal static class RedLockHold
{
    private const string Acquired = "ACQUIRED ";

    // The child's locks stay reachable for its whole life: an unreachable lock's extension timer would be collected.
    private static readonly List<RedLockNet.IRedLock> Held = [];

    internal sealed record Outcome(RedisUsage? Usage, int Acquired, long MissingEver, long MissingAtEnd, string? Failure);

    public static async Task<Outcome> RunAsync(IConnectionMultiplexer redis, string endPoint, int locks, TimeSpan expiry, TimeSpan window, bool sample)
    {
        var prefix = $"rl-{Guid.NewGuid():N}";
        var info = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
        {
            info.ArgumentList.Add(System.Reflection.Assembly.GetEntryAssembly()!.Location);
        }

        foreach (var argument in new[] { "redlock-hold", "--redis", endPoint, "--locks", locks.ToString(CultureInfo.InvariantCulture), "--expiry-seconds", expiry.TotalSeconds.ToString(CultureInfo.InvariantCulture), "--prefix", prefix })
        {
            info.ArgumentList.Add(argument);
        }

        using var child = Process.Start(info) ?? throw new InvalidOperationException("The redlock-hold process did not start.");
        try
        {
            var acquired = await WaitAcquiredAsync(child, AcquireTimeout(locks));
            if (acquired < 0)
            {
                return new Outcome(null, 0, 0, 0, $"{locks:N0} locks not acquired within {AcquireTimeout(locks).TotalSeconds:F0} s");
            }

            var keys = Enumerable.Range(0, locks).Select(i => (RedisKey)$"redlock:{prefix}-{i}").ToArray();
            var db = redis.GetDatabase();
            var server = redis.GetServers()[0];
            await Task.Delay(TimeSpan.FromSeconds(2));
            var before = await RedisUsage.SnapshotAsync(server);
            var missingEver = new HashSet<int>();
            var end = Clock.NowMs + window.TotalMilliseconds;
            while (Clock.NowMs < end)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(1000, Math.Max(1, end - Clock.NowMs))));
                if (sample)
                {
                    foreach (var i in await MissingAsync(db, keys))
                    {
                        missingEver.Add(i);
                    }
                }
            }

            // The EXISTS checks are this process' own; RedLock.net never sends EXISTS.
            var usage = RedisUsage.Between(before, await RedisUsage.SnapshotAsync(server), sample ? ["exists"] : []);
            var missingAtEnd = (await MissingAsync(db, keys)).Count;
            return new Outcome(usage, acquired, Math.Max(missingEver.Count, missingAtEnd), missingAtEnd, null);
        }
        finally
        {
            if (!child.HasExited)
            {
                child.Kill();
                await child.WaitForExitAsync();
            }
        }
    }

    /// <summary>Shorter than ours: a starved RedLock.net process rarely finishes late, and the run must stay short.</summary>
    private static TimeSpan AcquireTimeout(int locks) => TimeSpan.FromSeconds(Math.Min(90, 30 + (locks / 1000.0)));

    private static async Task<int> WaitAcquiredAsync(Process child, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            while (await child.StandardOutput.ReadLineAsync(cancel.Token) is { } line)
            {
                if (line.StartsWith(Acquired, StringComparison.Ordinal))
                {
                    return int.Parse(line[Acquired.Length..], CultureInfo.InvariantCulture);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        return -1;
    }

    /// <summary>Indexes of the keys that do not exist (checked in pipelined batches of EXISTS).</summary>
    private static async Task<List<int>> MissingAsync(IDatabase db, RedisKey[] keys)
    {
        var missing = new List<int>();
        for (var start = 0; start < keys.Length; start += 5000)
        {
            var batch = Enumerable.Range(start, Math.Min(5000, keys.Length - start)).ToArray();
            var exists = await Task.WhenAll(batch.Select(i => db.KeyExistsAsync(keys[i])));
            missing.AddRange(batch.Where((_, j) => !exists[j]));
        }

        return missing;
    }

    /// <summary>The child: take the locks, say so, hold them (auto-extended) until killed.</summary>
    public static async Task RunChildAsync(BenchArguments args)
    {
        var count = args.Int("locks", 10);
        var expiry = TimeSpan.FromSeconds(args.Double("expiry-seconds", 10));
        var prefix = args.Get("prefix")!;
        // RedLock.net extends each lock with a blocking call from its own timer; the timers of thousands of locks fire
        // together and hold every thread-pool thread while the replies they wait for need one. Threads up front, as a
        // RedLock.net user holding this many locks would have to set them (it helps up to a few thousand locks).
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, Math.Min(count + 64, 4096)), io);
        var redis = await ConnectionMultiplexer.ConnectAsync(RedisProcess.ConnectionStringFor(args.Redis!));
        var factory = RedLockFactory.Create([new RedLockMultiplexer(redis)]);
        var acquired = 0;
        var locks = Held;
        foreach (var batch in Enumerable.Range(0, count).Chunk(1000))
        {
            var taken = await Task.WhenAll(batch.Select(i => factory.CreateLockAsync($"{prefix}-{i}", expiry)));
            locks.AddRange(taken);
            acquired += taken.Count(l => l.IsAcquired);
        }

        Console.WriteLine(Acquired + acquired.ToString(CultureInfo.InvariantCulture));
        Console.Out.Flush();
        // Held until killed, or until the parent is gone (its end of stdin closes); a thread of its own, since the
        // thread pool is typically starved by the locks' timers.
        var watcher = new Thread(() =>
        {
            Console.In.ReadLine();
            Environment.Exit(0);
        }) { IsBackground = true, Name = "redlock-hold-parent-watch" };
        watcher.Start();
        await Task.Delay(Timeout.Infinite);
    }
}
