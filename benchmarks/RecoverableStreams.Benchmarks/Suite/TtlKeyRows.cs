using RecoverableStreams.Benchmarks.Infrastructure;
using RecoverableStreams.Benchmarks.Peers;
using StackExchange.Redis;
using static RecoverableStreams.Benchmarks.Suite.RowHelpers;

namespace RecoverableStreams.Benchmarks.Suite;

/// <summary>The Go library's mechanism (<see cref="TtlKeyPeer"/>), the same rows with the same leases.</summary>
internal sealed class TtlKeyRows(IConnectionMultiplexer redis, string endPoint, SuiteSettings settings, SuiteReport report)
{
    private const Library Me = Library.TtlKeys;
    private readonly IServer _server = redis.GetServers()[0];
    private readonly IDatabase _db = redis.GetDatabase();
    private readonly string _connectionString = RedisProcess.ConnectionStringFor(endPoint);

    private TtlKeyPeer Peer(string service, TimeSpan ttl, bool claimOnExpiry = true) => new(redis, _connectionString, service, ttl, claimOnExpiry);

    public async Task IdleAsync(int n)
    {
        var service = $"ttl-idle-{Guid.NewGuid():N}";
        var peer = Peer(service, SuiteSettings.IdleLease);
        try
        {
            await peer.StartAsync();
            await TtlKeyPeer.AnnounceAsync(_db, service, Names(service, n));
            if (!await EventuallyAsync(() => peer.OwnedCount >= n, SuiteSettings.AcquireTimeout(n), 20))
            {
                throw new SetupTimeoutException($"setup timeout: {peer.OwnedCount} of {n} owned");
            }

            var lostBefore = peer.Lost;
            await Task.Delay(TimeSpan.FromSeconds(3));
            var upkeep = await RedisUsage.MeasureAsync(_server, settings.Window);
            report.Set("idle.cmds", n, Me, Cell.Rate(upkeep.CommandsPerSecond, "/s") with { Text = $"{upkeep.CommandsPerSecond:N0}/s ({upkeep.TopCommands})" });
            report.Set("idle.cpu", n, Me, Cell.Rate(upkeep.CpuMsPerSecond, "ms/s"));
            report.Set("idle.lost", n, Me, Cell.Count(peer.Lost - lostBefore));

            var samples = new List<double>();
            var missed = 0;
            for (var i = 0; i < settings.Pickups + 3; i++)
            {
                var name = $"{service}-pickup-{i}";
                var before = Clock.NowMs;
                await TtlKeyPeer.AnnounceAsync(_db, service, [name]);
                if (!await EventuallyAsync(() => peer.FirstOwnedAt.ContainsKey(name), TimeSpan.FromSeconds(10), 2))
                {
                    missed++;
                }
                else if (i >= 3)
                {
                    samples.Add(peer.FirstOwnedAt[name] - before);
                }
            }

            report.Set("pickup.p50", n, Me, Cell.Ms(Stats.Percentile(samples, 50)));
            report.Set("pickup.p99", n, Me, missed == 0 ? Cell.Ms(Stats.Percentile(samples, 99)) : Cell.Note($"{missed} not picked up within 10 s"));
        }
        finally
        {
            await DisposeQuietlyAsync(peer, TimeSpan.FromSeconds(60));
            await ResetAsync(redis);
        }
    }

    public async Task CrashAsync(int n)
    {
        var service = $"ttl-crash-{Guid.NewGuid():N}";
        var ttl = SuiteSettings.FailoverLease;
        var owner = Peer(service, ttl, claimOnExpiry: false);
        var survivors = new List<TtlKeyPeer>();
        try
        {
            await owner.StartAsync();
            await TtlKeyPeer.AnnounceAsync(_db, service, Names(service, n));
            if (!await EventuallyAsync(() => owner.OwnedCount >= n, SuiteSettings.AcquireTimeout(n), 20))
            {
                throw new SetupTimeoutException($"setup timeout: owner owned {owner.OwnedCount} of {n}");
            }

            for (var i = 0; i < SuiteSettings.Survivors; i++)
            {
                var survivor = Peer(service, ttl);
                survivors.Add(survivor);
                await survivor.StartAsync();
            }

            await owner.CrashAsync();
            var deadlines = owner.Deadlines();
            var complete = await EventuallyAsync(() => survivors.Sum(s => s.FirstOwnedAt.Count) >= n, ttl + SuiteSettings.AcquireTimeout(n), 10);
            var (p50, p99, max) = Latencies(deadlines, name => survivors.Select(s => s.FirstOwnedAt.TryGetValue(name, out var at) ? at : (double?)null).Min(), complete);
            report.Set("crash.p50", n, Me, p50);
            report.Set("crash.p99", n, Me, p99);
            report.Set("crash.max", n, Me, max);
        }
        finally
        {
            await DisposeQuietlyAsync(owner, TimeSpan.FromSeconds(30));
            foreach (var survivor in survivors)
            {
                await DisposeQuietlyAsync(survivor, TimeSpan.FromSeconds(30));
            }

            await ResetAsync(redis);
        }
    }

    /// <summary>The owner crashed and its keys expired before anyone listened; a fresh consumer starts.</summary>
    public async Task OrphansAsync(int n)
    {
        var service = $"ttl-orphans-{Guid.NewGuid():N}";
        var ttl = SuiteSettings.FailoverLease;
        var owner = Peer(service, ttl, claimOnExpiry: false);
        TtlKeyPeer? rescuer = null;
        try
        {
            await owner.StartAsync();
            await TtlKeyPeer.AnnounceAsync(_db, service, Names(service, n));
            if (!await EventuallyAsync(() => owner.OwnedCount >= n, SuiteSettings.AcquireTimeout(n), 20))
            {
                throw new SetupTimeoutException($"setup timeout: owner owned {owner.OwnedCount} of {n}");
            }

            await owner.CrashAsync();
            var lastDeadline = owner.Deadlines().Values.Max();
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Max(0, lastDeadline - Clock.NowMs) + 1000));
            var startedAt = Clock.NowMs;
            rescuer = Peer(service, ttl);
            await rescuer.StartAsync();
            var wait = TimeSpan.FromSeconds(settings.Quick ? 10 : 30);
            var complete = await EventuallyAsync(() => rescuer.FirstOwnedAt.Count >= n, wait, 20);
            report.Set("orphans.all", n, Me, complete
                ? Cell.Ms(rescuer.FirstOwnedAt.Values.Max() - startedAt)
                : Cell.Note($"never: {rescuer.FirstOwnedAt.Count} of {n} owned after {wait.TotalSeconds:F0} s"));
        }
        finally
        {
            await DisposeQuietlyAsync(owner, TimeSpan.FromSeconds(30));
            if (rescuer is not null)
            {
                await DisposeQuietlyAsync(rescuer, TimeSpan.FromSeconds(30));
            }

            await ResetAsync(redis);
        }
    }

    public async Task SpreadAsync(int n)
    {
        var service = $"ttl-spread-{Guid.NewGuid():N}";
        var peers = new List<TtlKeyPeer>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var peer = Peer(service, SuiteSettings.FailoverLease);
                peers.Add(peer);
                await peer.StartAsync();
            }

            await TtlKeyPeer.AnnounceAsync(_db, service, Names(service, n));
            if (!await EventuallyAsync(() => peers.Sum(p => p.OwnedCount) >= n, SuiteSettings.AcquireTimeout(n), 20))
            {
                throw new SetupTimeoutException($"setup timeout: {peers.Sum(p => p.OwnedCount)} of {n} owned");
            }

            var late = Peer(service, SuiteSettings.FailoverLease);
            peers.Add(late);
            await late.StartAsync();
            var points = await SpreadSampler.ObserveAsync(() => peers.Select(p => p.OwnedCount).ToArray(), SpreadSampler.Duration(SuiteSettings.FailoverLease));
            SpreadSampler.Report(report, n, Me, points);
        }
        finally
        {
            foreach (var peer in peers)
            {
                await DisposeQuietlyAsync(peer, TimeSpan.FromSeconds(30));
            }

            await ResetAsync(redis);
        }
    }

    public async Task SoakAsync(int n)
    {
        var service = $"ttl-soak-{Guid.NewGuid():N}";
        var peer = Peer(service, SuiteSettings.SoakLease);
        try
        {
            await peer.StartAsync();
            await TtlKeyPeer.AnnounceAsync(_db, service, Names(service, n));
            if (!await EventuallyAsync(() => peer.OwnedCount >= n, SuiteSettings.AcquireTimeout(n), 20))
            {
                throw new SetupTimeoutException($"setup timeout: {peer.OwnedCount} of {n} owned");
            }

            await Task.Delay(TimeSpan.FromSeconds(3));
            var lostBefore = peer.Lost;
            var usage = await RedisUsage.MeasureAsync(_server, settings.Soak);
            var lost = peer.Lost - lostBefore;
            report.Set("soak.lost", n, Me, Cell.Count(lost));
            SuiteScenario.SetBill(report, "soak", n, Me, usage, lost == 0 ? null : $"{lost:N0} leases lost");
        }
        finally
        {
            await DisposeQuietlyAsync(peer, TimeSpan.FromSeconds(30));
            await ResetAsync(redis);
        }
    }
}
