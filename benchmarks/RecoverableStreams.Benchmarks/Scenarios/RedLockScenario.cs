using RecoverableStreams.Benchmarks.Infrastructure;
using RecoverableStreams.Keys;
using RedLockNet;
using RedLockNet.SERedis;
using RedLockNet.SERedis.Configuration;
using System.Text.Json;
using StackExchange.Redis;

namespace RecoverableStreams.Benchmarks.Scenarios;

/// <summary>
/// Why RedLock.net was rejected for leases: RedLock.net 2.3.2 holding L concurrent 2 s locks (auto-extended, one timer per lock) against
/// this library holding L leases of 2 s on one consumer (one batched renewal per interval), for the same time on the
/// same Redis. Every 50 ms a sampler compares what each library reports (IsAcquired / lease owned) with the key in
/// Redis (does it still hold our value?).
/// </summary>
internal static class RedLockScenario
{
    private static readonly TimeSpan Expiry = TimeSpan.FromSeconds(2);

    public static async Task<IReadOnlyList<ResultTable>> RunAsync(string connectionString, string endPoint, BenchArguments args)
    {
        var counts = args.Ints("locks", 5, 50, 500);
        var hold = TimeSpan.FromSeconds(args.Double("hold-seconds", 20));
        var table = new ResultTable(
            $"redlock: L concurrent 2 s locks/leases held for {hold.TotalSeconds:F0} s (RedLock.net 2.3.2 vs RecoverableStreams)",
            "L", "library", "reported lost (ever)", "key lost in Redis (ever)", "held-but-not-ours (item-seconds)", "reported held / key ours (last ok sample)", "statuses at end", "extensions (RedLock) / disowned (ours)", "samples in hold (wall)", "thread pool at end of hold");

        using var checker = await ConnectionMultiplexer.ConnectAsync(connectionString);
        var db = checker.GetDatabase();
        foreach (var l in counts)
        {
            // Ours first: RedLock.net's timers may keep starving the thread pool after its hold.
            var (leases, disowned) = await LeasesAsync(connectionString, l, hold);
            Add(table, l, "RecoverableStreams", leases, disowned.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var (redLock, extensions, exited, keysOurs) = await RedLockAsync(db, endPoint, l, hold);
            Add(table, l, "RedLock.net", redLock, extensions.ToString(System.Globalization.CultureInfo.InvariantCulture));
            table.Note($"L={l}: RedLock.net keys still holding their lock id at the end of the hold, read by the parent process: {keysOurs} of {l}.");
            if (!exited)
            {
                table.Note($"L={l}: the RedLock.net peer process did not exit within 5 s of its result and was killed.");
            }

            Console.WriteLine($"  {l} locks and leases done ({DateTimeOffset.UtcNow:HH:mm:ss})");
        }

        table.Note("'reported lost' = RedLock IsAcquired false / our lease no longer owned, at least once. 'key lost in Redis' = the key did not hold our lock id / lease value at some sample (expired, deleted or taken). 'held-but-not-ours' = sum over samples of items the library reported held while Redis no longer had them: the unsafe case.");
        table.Note("RedLock: one RedLockFactory over one multiplexer, locks created concurrently with no wait/retry, in a child process of its own, auto-extension (its timer fires every expiry/2 and extends with a synchronous script call). Ours: one consumer, LeaseDuration 2 s, one renewal script call for all leases every 667 ms.");
        table.Note("Sampled on a dedicated thread with synchronous MGETs on a separate connection, every 50 ms; 'samples in hold' shows how many samples the hold got, how long it really took, and how many sample reads timed out after 1 s (StackExchange.Redis 3.x completes even synchronous calls on the thread pool, so a starved pool stalls them).");
        return [table];
    }

    private static void Add(ResultTable table, int l, string library, HoldOutcome o, string extra) =>
        table.Add(l, library, o.ReportedLost, o.LostInRedis, $"{o.HeldWithoutKeySeconds:F1}", $"{o.ReportedHeldAtEnd} / {o.KeysOursAtEnd}", o.StatusesAtEnd, extra, $"{o.Samples} ok, last at {o.LastSampleAt.TotalSeconds:F1} s of {o.Elapsed.TotalSeconds:F0} s; {o.TimedOutSamples} timed out", o.PoolAtEnd);

    private const string ResultPrefix = "REDLOCK-RESULT ";

    /// <summary>
    /// Runs the RedLock.net side in a child process (<c>redlock-peer</c>): its timers starve the thread pool, which
    /// would stall this process (and the next measurement) long after the hold. The child prints one result line and
    /// exits; it is killed by its PID if it does not.
    /// </summary>
    private static async Task<(HoldOutcome Outcome, long Extensions, bool Exited, int KeysOursAtEnd)> RedLockAsync(IDatabase db, string endPoint, int count, TimeSpan hold)
    {
        var entry = System.Reflection.Assembly.GetEntryAssembly()!.Location;
        var host = Environment.ProcessPath!;
        var info = new System.Diagnostics.ProcessStartInfo(host) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            info.ArgumentList.Add(entry);
        }

        foreach (var argument in new[] { "redlock-peer", "--redis", endPoint, "--locks", count.ToString(System.Globalization.CultureInfo.InvariantCulture), "--hold-seconds", hold.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(argument);
        }

        using var child = System.Diagnostics.Process.Start(info) ?? throw new InvalidOperationException("The redlock-peer process did not start.");
        string? result = null;
        using var timeout = new CancellationTokenSource(hold + TimeSpan.FromSeconds(90));
        try
        {
            while (await child.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                if (line.StartsWith(ResultPrefix, StringComparison.Ordinal))
                {
                    result = line[ResultPrefix.Length..];
                    break;
                }

                Console.WriteLine("  [peer] " + line);
            }
        }
        catch (OperationCanceledException)
        {
        }

        // Checked from this (unstarved) process the moment the peer's hold ends: the keys' real state.
        var keysOurs = -1;
        var peer = result is null ? null : JsonSerializer.Deserialize<PeerResult>(result);
        if (peer is not null)
        {
            var values = await db.StringGetAsync(peer.Keys.Select(k => (RedisKey)k).ToArray());
            keysOurs = values.Where((v, i) => v == peer.Values[i]).Count();
        }

        var exited = child.WaitForExit(TimeSpan.FromSeconds(5));
        if (!exited)
        {
            child.Kill();
            await child.WaitForExitAsync();
        }

        return peer is null
            ? throw new InvalidOperationException($"The redlock-peer process gave no result for {count} locks.")
            : (peer.Outcome, peer.Extensions, exited, keysOurs);
    }

    private sealed record PeerResult(HoldOutcome Outcome, long Extensions, string[] Keys, string[] Values);

    /// <summary>The child side: take the locks, sample the hold on a dedicated thread, print the result, exit at once.</summary>
    public static async Task RunPeerAsync(string connectionString, BenchArguments args)
    {
        var count = args.Int("locks", 5);
        var hold = TimeSpan.FromSeconds(args.Double("hold-seconds", 20));
        var redis = await ConnectionMultiplexer.ConnectAsync(connectionString);
        var factory = RedLockFactory.Create([new RedLockMultiplexer(redis)]);
        var prefix = $"redlock-{Guid.NewGuid():N}";
        var locks = await Task.WhenAll(Enumerable.Range(0, count).Select(i => factory.CreateLockAsync($"{prefix}-{i}", Expiry)));
        var acquired = locks.Where(l => l.IsAcquired).ToArray();
        if (acquired.Length != count)
        {
            throw new InvalidOperationException($"RedLock.net acquired only {acquired.Length} of {count} fresh locks.");
        }

        // RedLock.net's default key format is "redlock:{resource}"; the key holds the lock id while held.
        var items = acquired.Select(l => new HeldItem("redlock:" + l.Resource, l.LockId, () => l.IsAcquired, () => l.Status.ToString())).ToArray();
        var sampling = await ConnectionMultiplexer.ConnectAsync(connectionString + ",syncTimeout=1000");
        var sampler = new Thread(() =>
        {
            var outcome = HoldSampler.Sample(sampling, items, hold);
            var extensions = acquired.Sum(l => (long)l.ExtendCount);
            Console.WriteLine(ResultPrefix + JsonSerializer.Serialize(new PeerResult(outcome, extensions, items.Select(i => i.Key).ToArray(), items.Select(i => i.Value).ToArray())));
            Console.Out.Flush();
            // Nothing else would run here: the pool is typically starved by now. The locks expire in Redis by themselves.
            Environment.Exit(0);
        }) { Name = "redlock-peer-sampler" };
        sampler.Start();
        await Task.Delay(Timeout.Infinite);
    }

    private static async Task<(HoldOutcome Outcome, int Disowned)> LeasesAsync(string connectionString, int count, TimeSpan hold)
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
        var keys = StreamKeys.For(options);
        var items = consumer.Client.OwnedStreams
            .Select(l => new HeldItem(keys.Owners, l.LeaseValue, () => l.IsOwned, () => l.IsOwned ? "owned" : "lost", l.IdInLbs))
            .ToArray();
        var outcome = await HoldSampler.SampleAsync(connectionString, items, hold);
        return (outcome, consumer.Count(StreamNotificationType.StreamDisowned));
    }
}
