using RecoverableStreams.Benchmarks.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.Benchmarks.Scenarios;

/// <summary>
/// Failover at scale: one consumer owns N streams, K survivors run with AutoClaim. Crash: the owner stops renewing
/// (<c>CrashAsync</c>, nothing released); measured from each lease's expiry (its deadline in Redis, lease duration
/// after the last renewal) to the streams being owned again. Graceful: the owner calls <c>DoneAsync</c> (releases
/// everything); measured from the call to all streams owned again. Both report how evenly the survivors shared them.
/// </summary>
internal static class FailoverScenario
{
    public static async Task<IReadOnlyList<ResultTable>> RunAsync(IConnectionMultiplexer redis, BenchArguments args)
    {
        var sizes = args.Ints("sizes", 100, 1000, 10000);
        var survivors = args.Int("survivors", 3);
        var lease = TimeSpan.FromSeconds(args.Double("lease-seconds", 2));
        var crash = new ResultTable(
            $"failover (crash): {survivors} survivors, AutoClaim, LeaseDuration {lease.TotalSeconds:F0} s, keyspace notifications on",
            "streams", "first re-owned after earliest expiry", "all re-owned after last expiry", "expiry spread", "crash to all re-owned", "per survivor (min/max)", "StreamAdded (unique)", "StreamDisowned", "held locally at end (confirmed in Redis)");
        var graceful = new ResultTable(
            $"failover (graceful): DoneAsync on the owner, {survivors} survivors, AutoClaim",
            "streams", "DoneAsync returned", "all re-owned after DoneAsync call", "per survivor (min/max)", "StreamAdded (unique)", "StreamDisowned", "held locally at end (confirmed in Redis)");

        foreach (var n in sizes)
        {
            await CrashAsync(redis, n, survivors, lease, crash);
            Console.WriteLine($"  failover crash, {n} streams done");
            await GracefulAsync(redis, n, survivors, lease, graceful);
            Console.WriteLine($"  failover graceful, {n} streams done");
            await redis.GetServers()[0].FlushDatabaseAsync();
        }

        crash.Note("Expiry = the owner's session deadline in {L}:sessions after the owner stopped (Redis clock, converted with a measured offset). 'Expiry spread' = last minus earliest deadline: how far apart the owner's last renewals left them.");
        crash.Note("Each lease deadline is lease duration after its last renewal; the survivors' deadline scheduler sleeps until the earliest deadline, then claims within fair shares.");
        return [crash, graceful];
    }

    private static int UniqueAdded(List<BenchConsumer> survivors) =>
        survivors.SelectMany(s => s.Added).Select(a => a.IdInLbs).Distinct(StringComparer.Ordinal).Count();

    private static IEnumerable<double> FirstAddedPerStream(IEnumerable<(string IdInLbs, double AtMs)> added) =>
        added.GroupBy(a => a.IdInLbs, StringComparer.Ordinal).Select(g => g.Min(a => a.AtMs));

    /// <summary>
    /// Each stream should be added once and never lost: total and unique StreamAdded, StreamDisowned, and the leases
    /// the survivors hold locally, with how many of those Redis confirms (the ownership record in {L}:owners still holds that owner's value).
    /// </summary>
    private static async Task<object[]> IntegrityAsync(IConnectionMultiplexer redis, StreamKeys keys, List<BenchConsumer> survivors)
    {
        var owned = survivors.SelectMany(s => s.Client.OwnedStreams).ToArray();
        var db = redis.GetDatabase();
        var values = await Task.WhenAll(owned.Select(l => db.HashGetAsync(keys.Owners, l.IdInLbs)));
        var confirmed = owned.Where((l, i) => values[i] == l.LeaseValue).Select(l => l.IdInLbs).Distinct(StringComparer.Ordinal).Count();
        return
        [
            $"{survivors.Sum(s => s.Added.Count)} ({UniqueAdded(survivors)})",
            survivors.Sum(s => s.Count(StreamNotificationType.StreamDisowned)),
            $"{owned.Length} ({confirmed})",
        ];
    }

    private static RecoverableStreamOptions Options(string service, int capacity, TimeSpan lease, bool autoClaim) => new()
    {
        ServiceName = service,
        LeaseDuration = lease,
        MaxConcurrentStreams = capacity,
        AutoClaim = autoClaim,
        ReconcileInterval = TimeSpan.FromMinutes(10),
    };

    private static async Task<(BenchConsumer Owner, List<BenchConsumer> Survivors)> SetUpAsync(IConnectionMultiplexer redis, string service, int n, int survivorCount, TimeSpan lease)
    {
        var owner = await BenchConsumer.StartAsync(redis, Options(service, n, lease, autoClaim: true));
        await LbsSeeder.AddStreamsAsync(redis, Options(service, n, lease, autoClaim: true), n, service + "-data");
        await Wait.UntilAsync(() => owner.Client.OwnedStreams.Count == n, TimeSpan.FromSeconds(120), $"the owner to own {n} streams", 20);
        var survivors = new List<BenchConsumer>();
        for (var i = 0; i < survivorCount; i++)
        {
            survivors.Add(await BenchConsumer.StartAsync(redis, Options(service, n, lease, autoClaim: true)));
        }

        return (owner, survivors);
    }

    private static async Task CrashAsync(IConnectionMultiplexer redis, int n, int survivorCount, TimeSpan lease, ResultTable table)
    {
        var service = $"failover-{Guid.NewGuid():N}";
        var (owner, survivors) = await SetUpAsync(redis, service, n, survivorCount, lease);
        var db = redis.GetDatabase();
        var keys = StreamKeys.For(Options(service, n, lease, autoClaim: true));
        try
        {
            var ownerRecord = owner.Client.OwnedStreams[0].LeaseValue;
            var ownerSession = ownerRecord[..ownerRecord.LastIndexOf('|')];
            var crashedAt = Clock.NowMs;
            await owner.CrashAsync();
            // The owner no longer renews; every stream it owned shares its session's deadline.
            var deadlines = (await db.SortedSetRangeByRankWithScoresAsync(keys.Sessions)).Where(d => d.Element == ownerSession).ToArray();
            var offset = await Clock.ServerOffsetMsAsync(db);
            var earliestExpiry = deadlines.Min(d => d.Score) - offset;
            var lastExpiry = deadlines.Max(d => d.Score) - offset;
            await Wait.UntilAsync(() => UniqueAdded(survivors) >= n, lease + TimeSpan.FromSeconds(120), $"{n} streams to be re-owned", 10);
            var added = survivors.SelectMany(s => s.Added).ToArray();
            var first = added.Min(a => a.AtMs);
            var last = FirstAddedPerStream(added).Max();
            var shares = survivors.Select(s => s.Client.OwnedStreams.Count).ToArray();
            table.Add(
            [
                n,
                Stats.Ms(first - earliestExpiry),
                Stats.Ms(last - lastExpiry),
                Stats.Ms(lastExpiry - earliestExpiry),
                Stats.Ms(last - crashedAt),
                $"{shares.Min()} / {shares.Max()}",
                .. await IntegrityAsync(redis, keys, survivors),
            ]);
        }
        finally
        {
            foreach (var survivor in survivors)
            {
                await survivor.DisposeAsync();
            }
        }
    }

    private static async Task GracefulAsync(IConnectionMultiplexer redis, int n, int survivorCount, TimeSpan lease, ResultTable table)
    {
        var service = $"handover-{Guid.NewGuid():N}";
        var (owner, survivors) = await SetUpAsync(redis, service, n, survivorCount, lease);
        try
        {
            var calledAt = Clock.NowMs;
            await owner.DisposeAsync();
            var returnedAt = Clock.NowMs;
            await Wait.UntilAsync(() => UniqueAdded(survivors) >= n, TimeSpan.FromSeconds(120), $"{n} released streams to be re-owned", 5);
            var last = FirstAddedPerStream(survivors.SelectMany(s => s.Added)).Max();
            var shares = survivors.Select(s => s.Client.OwnedStreams.Count).ToArray();
            table.Add([n, Stats.Ms(returnedAt - calledAt), Stats.Ms(last - calledAt), $"{shares.Min()} / {shares.Max()}", .. await IntegrityAsync(redis, StreamKeys.For(Options(service, n, lease, autoClaim: true)), survivors)]);
        }
        finally
        {
            foreach (var survivor in survivors)
            {
                await survivor.DisposeAsync();
            }
        }
    }
}
