using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using RecoverableStreams.FaultTests.Infrastructure;
using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.FaultTests;

/// <summary>The fault tools themselves, checked against a real Redis and the core client (no sample worker needed).</summary>
public sealed class InfrastructureTests
{
    [Test]
    public async Task Proxy_forwards_refuses_while_cut_and_forwards_again_after_heal()
    {
        await using var redis = await FaultRedis.StartAsync(appendOnly: false);
        await using var proxy = TcpProxy.Start(redis.Port);
        await using var client = await ConnectionMultiplexer.ConnectAsync($"{proxy.EndPoint},abortConnect=false,connectTimeout=1000,syncTimeout=2000,asyncTimeout=2000");
        await client.GetDatabase().StringSetAsync("k", "before");

        proxy.Cut();

        Assert.ThrowsAsync<RedisConnectionException>(async () => await client.GetDatabase().StringGetAsync("k"));
        using (var refused = new TcpClient())
        {
            Assert.ThrowsAsync<SocketException>(async () => await refused.ConnectAsync(IPAddress.Loopback, proxy.Port));
        }

        proxy.Heal();

        await Eventually.AssertAsync(async () =>
        {
            try
            {
                return await client.GetDatabase().StringGetAsync("k") == "before";
            }
            catch (RedisException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(30), "the client reconnects through the healed proxy");
        Assert.That(proxy.ConnectionsCut, Is.GreaterThanOrEqualTo(1));
    }

    [Test]
    public async Task Blackholed_proxy_holds_bytes_until_heal_then_delivers_them()
    {
        await using var redis = await FaultRedis.StartAsync(appendOnly: false);
        await using var proxy = TcpProxy.Start(redis.Port);
        await using var client = await ConnectionMultiplexer.ConnectAsync($"{proxy.EndPoint},abortConnect=false,syncTimeout=20000,asyncTimeout=20000");
        var db = client.GetDatabase();
        await db.StringSetAsync("k", "before");

        proxy.Blackhole();
        var held = db.StringSetAsync("k", "during");
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        Assert.That(held.IsCompleted, Is.False, "nothing moves through a blackhole");
        await using (var direct = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{redis.Port}"))
        {
            Assert.That((string?)await direct.GetDatabase().StringGetAsync("k"), Is.EqualTo("before"), "the write has not reached Redis");
        }

        proxy.Heal();

        Assert.That(await held.WaitAsync(TimeSpan.FromSeconds(15)), Is.True, "the held write is delivered after the heal");
        Assert.That((string?)await db.StringGetAsync("k"), Is.EqualTo("during"));
    }

    [Test]
    public async Task Child_process_is_frozen_thawed_and_killed_by_its_pid()
    {
        await using var child = new ChildProcess("sleeper", "/bin/sleep", ["120"]);
        child.Start();
        await Eventually.AssertAsync(() => Signals.State(child.Pid) == 'S', TimeSpan.FromSeconds(10), "the child sleeps");

        child.Freeze();
        await Eventually.AssertAsync(() => Signals.State(child.Pid) == 'T', TimeSpan.FromSeconds(10), "SIGSTOP stops it");

        child.Thaw();
        await Eventually.AssertAsync(() => Signals.State(child.Pid) == 'S', TimeSpan.FromSeconds(10), "SIGCONT resumes it");

        await child.KillAsync();
        Assert.That(child.IsRunning, Is.False);
        Assert.That(child.ExitCode, Is.EqualTo(128 + Signals.Kill));

        child.Start();
        Assert.That(child.IsRunning, Is.True);
        Assert.That(child.Starts, Is.EqualTo(2));
        Assert.That(await child.StopAsync(TimeSpan.FromSeconds(10)), Is.True, "SIGTERM ends it");
    }

    [Test]
    public async Task Lease_monitor_records_the_fencing_token_of_every_lease_the_core_client_takes()
    {
        await using var redis = await FaultRedis.StartAsync(appendOnly: false);
        var service = "mon-" + Guid.NewGuid().ToString("N")[..8];
        await using var monitor = new LeaseMonitor("127.0.0.1", redis.Port, "{" + service + "-input}:owners");
        await monitor.Connected.WaitAsync(TimeSpan.FromSeconds(10));
        await using var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{redis.Port},allowAdmin=true");
        var options = new RecoverableStreamOptions { ServiceName = service, LeaseDuration = TimeSpan.FromSeconds(2), PollInterval = TimeSpan.FromMilliseconds(200) };
        await using var client = new RecoverableStreamClient(connection, options);
        var notifications = await client.InitAsync();
        var publisher = new StreamPublisher(connection, options);
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await publisher.AddStreamAsync("s" + i));
        }

        var leases = new List<StreamLease>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (leases.Count < 5)
        {
            var n = await notifications.ReadAsync(timeout.Token);
            if (n.Type == StreamNotificationType.StreamAdded)
            {
                leases.Add(n.Lease!);
            }
        }

        await Eventually.AssertAsync(() => ids.All(id => monitor.GrantsOf(id).Count == 1), TimeSpan.FromSeconds(10), "one grant seen per stream");
        foreach (var lease in leases)
        {
            var grant = monitor.GrantsOf(lease.IdInLbs).Single();
            Assert.That(grant.Token, Is.EqualTo(lease.FencingToken));
            Assert.That(grant.ConsumerId, Is.EqualTo(client.ConsumerId));
        }

        Assert.That(monitor.Gaps, Is.Empty);
    }

    [Test]
    public async Task Producer_writes_every_entry_once_through_a_redis_restart_with_aof()
    {
        await using var redis = await FaultRedis.StartAsync(appendOnly: true);
        await using var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{redis.Port},abortConnect=false,connectTimeout=1000,syncTimeout=3000,asyncTimeout=3000");
        var options = new RecoverableStreamOptions { ServiceName = "prod-" + Guid.NewGuid().ToString("N")[..8] };
        var producer = new StreamProducer(connection, options, new ProducerPlan(30, 10, 20, TimeSpan.FromSeconds(2), TimeSpan.FromMilliseconds(50)), Stopwatch.StartNew());
        var production = producer.RunAsync("data", CancellationToken.None);
        await Eventually.AssertAsync(() => producer.EntriesWritten >= 100, TimeSpan.FromSeconds(30), "the producer is writing");

        await redis.KillAndRestartAsync(keepData: true, TimeSpan.FromMilliseconds(500));
        await production.WaitAsync(TimeSpan.FromSeconds(60));

        var db = connection.GetDatabase();
        var announced = (await db.StreamRangeAsync(options.ServiceName + "-input")).Select(e => (string)e["lbs-input"]!).ToList();
        foreach (var stream in producer.Streams)
        {
            var entries = await db.StreamRangeAsync(stream.Name);
            Assert.That(entries.Count(e => !e["v"].IsNull), Is.EqualTo(stream.Count), stream.Name);
            Assert.That(entries.Where(e => !e["v"].IsNull).Sum(e => (long)e["v"]), Is.EqualTo(stream.Sum), stream.Name);
            Assert.That(entries[^1]["end"].IsNull, Is.False, stream.Name + " ends with 'end'");
            Assert.That(announced.Count(a => a.Contains($"\"{stream.Name}\"", StringComparison.Ordinal)), Is.EqualTo(1), stream.Name + " is announced once");
        }

        Assert.That(redis.Restarts, Is.EqualTo(1));
    }
}
