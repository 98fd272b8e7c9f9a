using RecoverableStreams.Benchmarks.Infrastructure;
using StackExchange.Redis;
using static RecoverableStreams.Benchmarks.Suite.RowHelpers;

namespace RecoverableStreams.Benchmarks.Suite;

/// <summary>This library's rows, through the public API only (a crash is a killed child process).</summary>
internal sealed class OursRows(IConnectionMultiplexer redis, string endPoint, SuiteSettings settings, SuiteReport report)
{
    private const Library Me = Library.Ours;
    private readonly IServer _server = redis.GetServers()[0];

    /// <summary>Upkeep alone, then with every handler waiting in ReadEntriesAsync, then announce-to-handler pickups.</summary>
    public async Task IdleAsync(int n)
    {
        var service = $"idle-{Guid.NewGuid():N}";
        var options = Options(service, n + settings.Pickups + 3, SuiteSettings.IdleLease, autoClaim: false);
        var consumer = await BenchConsumer.StartAsync(redis, options);
        using var handlers = new CancellationTokenSource();
        var reading = new List<Task>();
        try
        {
            await PublishAsync(redis, options, Names(service, n));
            if (!await EventuallyAsync(() => consumer.Client.OwnedStreams.Count >= n, SuiteSettings.AcquireTimeout(n), 20))
            {
                throw new SetupTimeoutException($"setup timeout: {consumer.Client.OwnedStreams.Count} of {n} owned");
            }

            var lostBefore = consumer.Count(StreamNotificationType.StreamDisowned);
            await Task.Delay(TimeSpan.FromSeconds(3));
            var upkeep = await RedisUsage.MeasureAsync(_server, settings.Window);
            report.Set("idle.cmds", n, Me, Cell.Rate(upkeep.CommandsPerSecond, "/s") with { Text = $"{upkeep.CommandsPerSecond:N0}/s ({upkeep.TopCommands})" });
            report.Set("idle.cpu", n, Me, Cell.Rate(upkeep.CpuMsPerSecond, "ms/s"));

            // Each owned stream's handler waits for data that never comes.
            foreach (var lease in consumer.Client.OwnedStreams)
            {
                reading.Add(WaitForDataAsync(lease, handlers.Token));
            }

            // Let the readers' first reads (checkpoint, first range) pass before the window.
            await Task.Delay(TimeSpan.FromSeconds(3) + options.PollInterval);
            var watching = await RedisUsage.MeasureAsync(_server, settings.Window);
            report.Set("readers.cmds", n, Me, Cell.Rate(watching.CommandsPerSecond, "/s") with { Text = $"{watching.CommandsPerSecond:N0}/s ({watching.TopCommands})" });
            report.Set("readers.cpu", n, Me, Cell.Rate(watching.CpuMsPerSecond, "ms/s"));
            report.Set("idle.lost", n, Me, Cell.Count(consumer.Count(StreamNotificationType.StreamDisowned) - lostBefore));

            await PickupAsync(n, service, options, consumer);
        }
        finally
        {
            await handlers.CancelAsync();
            await Task.WhenAll(reading).WaitAsync(TimeSpan.FromSeconds(30)).ContinueWith(_ => { }, TaskScheduler.Default);
            await DisposeQuietlyAsync(consumer, TimeSpan.FromSeconds(60));
            await ResetAsync(redis);
        }
    }

    /// <summary>Announce one stream at a time, from just before AddStreamAsync to its StreamAdded (a handler's start).</summary>
    private async Task PickupAsync(int n, string service, RecoverableStreamOptions options, BenchConsumer consumer)
    {
        var publisher = new StreamPublisher(redis, options);
        var samples = new List<double>();
        var missed = 0;
        for (var i = 0; i < settings.Pickups + 3; i++)
        {
            var name = $"{service}-pickup-{i}";
            var before = Clock.NowMs;
            await publisher.AddStreamAsync(name);
            if (!await EventuallyAsync(() => consumer.FirstAddedByName.ContainsKey(name), TimeSpan.FromSeconds(10), 2))
            {
                Console.WriteLine($"    pickup {i} not seen within 10 s (owned {consumer.Client.OwnedStreams.Count})");
                missed++;
                continue;
            }

            if (i >= 3)
            {
                samples.Add(consumer.FirstAddedByName[name] - before);
            }
        }

        report.Set("pickup.p50", n, Me, Cell.Ms(Stats.Percentile(samples, 50)));
        report.Set("pickup.p99", n, Me, missed == 0 ? Cell.Ms(Stats.Percentile(samples, 99)) : Cell.Note($"{missed} not picked up within 10 s"));
    }

    /// <summary>A killed owner of N streams; per stream, re-owned (by 3 survivors) minus its deadline.</summary>
    public async Task CrashAsync(int n)
    {
        var service = $"crash-{Guid.NewGuid():N}";
        var lease = SuiteSettings.FailoverLease;
        var survivors = new List<BenchConsumer>();
        using var owner = await CrashPeer.StartAsync(endPoint, service, n, lease);
        try
        {
            var options = Options(service, n, lease, autoClaim: true);
            await PublishAsync(redis, options, Names(service, n));
            var owned = await owner.WaitOwnedAsync(SuiteSettings.AcquireTimeout(n));
            if (owned < n)
            {
                throw new SetupTimeoutException($"setup timeout: owner owned {owned} of {n}");
            }

            for (var i = 0; i < SuiteSettings.Survivors; i++)
            {
                survivors.Add(await BenchConsumer.StartAsync(redis, options));
            }

            var deadlines = await owner.CrashAsync(lease);
            var offset = await Clock.ServerOffsetMsAsync(redis.GetDatabase());
            var local = deadlines.ToDictionary(d => d.Key, d => d.Value - offset, StringComparer.Ordinal);
            var complete = await EventuallyAsync(() => survivors.Sum(s => s.FirstAddedByName.Count) >= n, lease + SuiteSettings.AcquireTimeout(n), 10);
            var (p50, p99, max) = Latencies(local, name => FirstOwned(survivors, name), complete);
            report.Set("crash.p50", n, Me, p50);
            report.Set("crash.p99", n, Me, p99);
            report.Set("crash.max", n, Me, max);
        }
        finally
        {
            foreach (var survivor in survivors)
            {
                await DisposeQuietlyAsync(survivor, TimeSpan.FromSeconds(60));
            }

            await ResetAsync(redis);
        }
    }

    /// <summary>DoneAsync on an owner of N streams; per stream, re-owned (by 3 survivors) minus the call.</summary>
    public async Task HandoverAsync(int n)
    {
        var service = $"handover-{Guid.NewGuid():N}";
        var options = Options(service, n, SuiteSettings.FailoverLease, autoClaim: true);
        var owner = await BenchConsumer.StartAsync(redis, options);
        var survivors = new List<BenchConsumer>();
        try
        {
            await PublishAsync(redis, options, Names(service, n));
            if (!await EventuallyAsync(() => owner.Client.OwnedStreams.Count >= n, SuiteSettings.AcquireTimeout(n), 20))
            {
                throw new SetupTimeoutException($"setup timeout: owner owned {owner.Client.OwnedStreams.Count} of {n}");
            }

            for (var i = 0; i < SuiteSettings.Survivors; i++)
            {
                survivors.Add(await BenchConsumer.StartAsync(redis, options));
            }

            var names = owner.Client.OwnedStreams.Select(l => l.DataStreamName).ToArray();
            var calledAt = Clock.NowMs;
            await DisposeQuietlyAsync(owner, SuiteSettings.AcquireTimeout(n));
            var complete = await EventuallyAsync(() => survivors.Sum(s => s.FirstAddedByName.Count) >= n, SuiteSettings.AcquireTimeout(n), 5);
            var (p50, p99, max) = Latencies(names.ToDictionary(x => x, _ => calledAt, StringComparer.Ordinal), name => FirstOwned(survivors, name), complete);
            report.Set("handover.p50", n, Me, p50);
            report.Set("handover.p99", n, Me, p99);
            report.Set("handover.max", n, Me, max);
        }
        finally
        {
            await DisposeQuietlyAsync(owner, TimeSpan.FromSeconds(60));
            foreach (var survivor in survivors)
            {
                await DisposeQuietlyAsync(survivor, TimeSpan.FromSeconds(60));
            }

            await ResetAsync(redis);
        }
    }

    /// <summary>N streams orphaned by a killed owner, its deadline long past; one fresh consumer starts: until all owned.</summary>
    public async Task OrphansAsync(int n)
    {
        var service = $"orphans-{Guid.NewGuid():N}";
        var lease = SuiteSettings.FailoverLease;
        var options = Options(service, n, lease, autoClaim: true);
        BenchConsumer? rescuer = null;
        using var owner = await CrashPeer.StartAsync(endPoint, service, n, lease);
        try
        {
            await PublishAsync(redis, options, Names(service, n));
            var owned = await owner.WaitOwnedAsync(SuiteSettings.AcquireTimeout(n));
            if (owned < n)
            {
                throw new SetupTimeoutException($"setup timeout: owner owned {owned} of {n}");
            }

            var deadlines = await owner.CrashAsync(lease);
            var offset = await Clock.ServerOffsetMsAsync(redis.GetDatabase());
            var lastDeadline = deadlines.Values.DefaultIfEmpty(Clock.NowMs + offset).Max() - offset;
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Max(0, lastDeadline - Clock.NowMs) + 1000));
            var startedAt = Clock.NowMs;
            rescuer = await BenchConsumer.StartAsync(redis, options);
            var complete = await EventuallyAsync(() => rescuer.FirstAddedByName.Count >= n, SuiteSettings.AcquireTimeout(n), 10);
            report.Set("orphans.all", n, Me, complete
                ? Cell.Ms(rescuer.FirstAddedByName.Values.Max() - startedAt)
                : Cell.Note($"timeout: {rescuer.FirstAddedByName.Count} of {n} owned"));
        }
        finally
        {
            if (rescuer is not null)
            {
                await DisposeQuietlyAsync(rescuer, TimeSpan.FromSeconds(60));
            }

            await ResetAsync(redis);
        }
    }

    /// <summary>3 consumers share N streams; a 4th joins: max/min owned over time, and the time until it is ≤ 1.2.</summary>
    public async Task SpreadAsync(int n)
    {
        var service = $"spread-{Guid.NewGuid():N}";
        var options = Options(service, n, SuiteSettings.FailoverLease, autoClaim: true);
        var consumers = new List<BenchConsumer>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                consumers.Add(await BenchConsumer.StartAsync(redis, options));
            }

            await PublishAsync(redis, options, Names(service, n));
            if (!await EventuallyAsync(() => consumers.Sum(c => c.Client.OwnedStreams.Count) >= n, SuiteSettings.AcquireTimeout(n), 20))
            {
                throw new SetupTimeoutException($"setup timeout: {consumers.Sum(c => c.Client.OwnedStreams.Count)} of {n} owned");
            }

            consumers.Add(await BenchConsumer.StartAsync(redis, options));
            var points = await SpreadSampler.ObserveAsync(() => consumers.Select(c => c.Client.OwnedStreams.Count).ToArray(), SpreadSampler.Duration(SuiteSettings.FailoverLease));
            SpreadSampler.Report(report, n, Me, points);
        }
        finally
        {
            foreach (var consumer in consumers)
            {
                await DisposeQuietlyAsync(consumer, TimeSpan.FromSeconds(60));
            }

            await ResetAsync(redis);
        }
    }

    /// <summary>N streams with 2 s leases and waiting readers, for the soak window: leases lost, and the Redis bill.</summary>
    public async Task SoakAsync(int n)
    {
        var service = $"soak-{Guid.NewGuid():N}";
        var options = Options(service, n, SuiteSettings.SoakLease, autoClaim: false);
        var consumer = await BenchConsumer.StartAsync(redis, options);
        using var handlers = new CancellationTokenSource();
        var reading = new List<Task>();
        try
        {
            await PublishAsync(redis, options, Names(service, n));
            if (!await EventuallyAsync(() => consumer.Client.OwnedStreams.Count >= n, SuiteSettings.AcquireTimeout(n), 20))
            {
                throw new SetupTimeoutException($"setup timeout: {consumer.Client.OwnedStreams.Count} of {n} owned");
            }

            var leases = consumer.Client.OwnedStreams.ToArray();
            foreach (var lease in leases)
            {
                reading.Add(WaitForDataAsync(lease, handlers.Token));
            }

            await Task.Delay(TimeSpan.FromSeconds(3) + options.PollInterval);
            var lostBefore = consumer.Count(StreamNotificationType.StreamDisowned);
            var notOwnedBefore = leases.Count(l => !l.IsOwned);
            var (usage, perSecond, cpuPerSecond) = await RedisUsage.MeasureSampledAsync(_server, settings.Soak);
            var lost = Math.Max(consumer.Count(StreamNotificationType.StreamDisowned) - lostBefore, leases.Count(l => !l.IsOwned) - notOwnedBefore);
            var ownedAtEnd = consumer.Client.OwnedStreams.Count;
            var detail = notOwnedBefore == 0 ? "" : $"; {notOwnedBefore:N0} more before the window";
            report.Set("soak.lost", n, Me, Cell.Count(lost) with { Text = lost == 0 && notOwnedBefore == 0 ? "0" : $"{lost:N0} ({ownedAtEnd:N0} of {n:N0} owned at the end{detail})" });
            SuiteScenario.SetBill(report, "soak", n, Me, usage, lost + notOwnedBefore == 0 ? null : $"{lost + notOwnedBefore:N0} of {n:N0} leases lost");
            if (lost + notOwnedBefore == 0 && perSecond.Count > 0)
            {
                // The tails of the per-second samples: a burst (a safety pass, a reconciliation page) shows here.
                report.Set("soak.cmds", n, Me, Cell.Rate(usage.CommandsPerSecond, "/s") with { Text = $"{usage.CommandsPerSecond:N0}/s; per second p99 {Stats.Percentile(perSecond, 99):N0}/s, max {perSecond.Max():N0}/s ({usage.TopCommands})" });
                report.Set("soak.cpu", n, Me, Cell.Rate(usage.CpuMsPerSecond, "ms/s") with { Text = $"{usage.CpuMsPerSecond:N1} ms/s; per second p99 {Stats.Percentile(cpuPerSecond, 99):N1}, max {cpuPerSecond.Max():N1} ms/s" });
            }
        }
        finally
        {
            await handlers.CancelAsync();
            await Task.WhenAll(reading).WaitAsync(TimeSpan.FromSeconds(30)).ContinueWith(_ => { }, TaskScheduler.Default);
            await DisposeQuietlyAsync(consumer, TimeSpan.FromSeconds(60));
            await ResetAsync(redis);
        }
    }

    private static double? FirstOwned(List<BenchConsumer> consumers, string name)
    {
        double? first = null;
        foreach (var consumer in consumers)
        {
            if (consumer.FirstAddedByName.TryGetValue(name, out var at) && (first is null || at < first))
            {
                first = at;
            }
        }

        return first;
    }

    /// <summary>A handler waiting for entries on its idle stream until cancelled or ownership ends.</summary>
    private static async Task WaitForDataAsync(StreamLease lease, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var entry in lease.ReadEntriesAsync(cancellationToken: cancellationToken))
            {
                _ = entry;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or StreamOwnershipLostException or RedisException)
        {
        }
    }
}
