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
        await using var monitor = new LeaseMonitor("127.0.0.1", redis.Port, "{" + service + "-input}:");
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

    /// <summary>
    /// With several partitions the monitor reads each partition's control prefix (as <see cref="ServiceKeys"/> names
    /// them from docs/PARTITIONS.md) and names each grant as the client does (<c>&lt;partition&gt;:&lt;entry id&gt;</c>).
    /// </summary>
    [Test]
    public async Task Lease_monitor_records_the_grants_of_every_partition_under_the_ids_the_client_uses()
    {
        await using var redis = await FaultRedis.StartAsync(appendOnly: false);
        var service = "mon-" + Guid.NewGuid().ToString("N")[..8];
        var keys = new ServiceKeys(service, 3);
        await using var monitor = new LeaseMonitor("127.0.0.1", redis.Port, keys.ControlPrefixes);
        await monitor.Connected.WaitAsync(TimeSpan.FromSeconds(10));
        await using var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{redis.Port},allowAdmin=true");
        var options = new RecoverableStreamOptions { ServiceName = service, Partitions = 3, LeaseDuration = TimeSpan.FromSeconds(2), PollInterval = TimeSpan.FromMilliseconds(200) };
        await using var client = new RecoverableStreamClient(connection, options);
        var notifications = await client.InitAsync();
        var publisher = new StreamPublisher(connection, options);
        var ids = new List<string>();
        for (var i = 0; i < 12; i++)
        {
            var id = await publisher.AddStreamAsync("s" + i);
            Assert.That(id, Does.StartWith(keys.PartitionOf("s" + i) + ":"), "ServiceKeys puts the stream in the partition the publisher chose");
            ids.Add(id);
        }

        var leases = new List<StreamLease>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (leases.Count < ids.Count)
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
            Assert.That(monitor.GrantsOf(lease.IdInLbs).Single().Token, Is.EqualTo(lease.FencingToken), lease.IdInLbs);
        }

        Assert.That(monitor.GrantsByPartition, Has.Count.EqualTo(3).And.All.GreaterThan(0), "grants seen in each partition");
        Assert.That(monitor.LongestRenewalSilence(0, long.MaxValue, s => s.StartsWith(client.ConsumerId, StringComparison.Ordinal)).Session, Does.StartWith(client.ConsumerId), "the client's session opening and renewals are seen");
    }

    /// <summary>
    /// The exclusivity check can fail: scripts shaped like the lease scripts (a SET ... PX grant, a GET of the lease key
    /// then a write) that grant over a live lease and accept a stale owner's write are reported, and a refused stale
    /// write is counted.
    /// </summary>
    [Test]
    public async Task Lease_monitor_reports_a_grant_over_a_live_lease_and_a_stale_write_accepted()
    {
        await using var redis = await FaultRedis.StartAsync(appendOnly: false);
        const string prefix = "{mon-x-input}:lease:";
        await using var monitor = new LeaseMonitor("127.0.0.1", redis.Port, "{mon-x-input}:");
        await monitor.Connected.WaitAsync(TimeSpan.FromSeconds(10));
        await using var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{redis.Port}");
        var db = connection.GetDatabase();
        const string grant = "redis.call('SET', KEYS[1], ARGV[1], 'PX', 60000) return 1";
        const string checkedWrite = "if redis.call('GET', KEYS[1]) ~= ARGV[1] and ARGV[2] == 'honest' then return 0 end redis.call('PEXPIRE', KEYS[1], 60000) return 1";

        // Proper: a grant, its owner's write, a release (DEL), then the next grant.
        await db.ScriptEvaluateAsync(grant, [prefix + "1-1"], ["a|i1|1"]);
        await db.ScriptEvaluateAsync(checkedWrite, [prefix + "1-1"], ["a|i1|1", "honest"]);
        await db.ScriptEvaluateAsync("redis.call('GET', KEYS[1]) redis.call('DEL', KEYS[1]) return 1", [prefix + "1-1"], ["a|i1|1"]);
        await db.ScriptEvaluateAsync(grant, [prefix + "1-1"], ["b|i2|2"]);
        // The old owner's late write, refused.
        await db.ScriptEvaluateAsync(checkedWrite, [prefix + "1-1"], ["a|i1|1", "honest"]);
        // A script call is judged when the next command starts (MONITOR shows no end of script).
        await db.StringGetAsync("next-command");
        await Eventually.AssertAsync(() => monitor.Exclusivity.WritesRefused == 1, TimeSpan.FromSeconds(10), "the refused write is seen");
        var clean = monitor.Exclusivity;
        Assert.Multiple(() =>
        {
            Assert.That(clean.OverlappingGrants, Is.Empty);
            Assert.That(clean.StaleWritesAccepted, Is.Empty);
            Assert.That(clean.CheckedWritesAccepted, Is.EqualTo(2), "the owner's write and its release");
            Assert.That(clean.StaleWritesRefused, Is.EqualTo(1));
        });

        // Broken: a grant while token 2 is live, and a stale write accepted although its check failed.
        await db.ScriptEvaluateAsync(grant, [prefix + "1-1"], ["c|i3|3"]);
        await db.ScriptEvaluateAsync(checkedWrite, [prefix + "1-1"], ["b|i2|2", "broken"]);
        await Eventually.AssertAsync(() => monitor.Exclusivity.StaleWritesAccepted.Count == 1, TimeSpan.FromSeconds(10), "the stale write accepted is reported");
        var broken = monitor.Exclusivity;
        Assert.That(broken.OverlappingGrants, Has.Count.EqualTo(1).And.Some.Contains("token 3"));
        Assert.That(broken.StaleWritesAccepted.Single(), Does.Contain("b|i2|2").And.Contain("c|i3|3"));
    }

    /// <summary>
    /// The same check on session leases (docs/ARCHITECTURE.md): ownership records in <c>{L}:owners</c>, live while their
    /// session's deadline in <c>{L}:sessions</c> has not passed; scripts shaped like those of the session model.
    /// </summary>
    [Test]
    public async Task Lease_monitor_judges_ownership_records_by_their_sessions_deadline()
    {
        await using var redis = await FaultRedis.StartAsync(appendOnly: false);
        const string control = "{mon-s-input}:";
        await using var monitor = new LeaseMonitor("127.0.0.1", redis.Port, control);
        await monitor.Connected.WaitAsync(TimeSpan.FromSeconds(10));
        await using var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{redis.Port}");
        var db = connection.GetDatabase();
        RedisKey[] sessions = [control + "sessions"];
        RedisKey[] owners = [control + "owners"];
        RedisKey[] checkpoint = [control + "owners", control + "ckpt:1-1"];
        const string open = "local t = redis.call('TIME') redis.call('ZADD', KEYS[1], 'NX', tonumber(t[1]) * 1000 + 60000, ARGV[1]) return 1";
        const string kill = "redis.call('ZADD', KEYS[1], 'XX', 0, ARGV[1]) return 1";
        const string grant = "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1";
        const string checkedWrite = "if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] and ARGV[3] == 'honest' then return 0 end redis.call('HSET', KEYS[2], 'pos', '1') return 1";

        // Proper: session a owns 1-1 and writes; a dies; b takes 1-1 over; a's late write is refused.
        await db.ScriptEvaluateAsync(open, sessions, ["a|s1"]);
        await db.ScriptEvaluateAsync(open, sessions, ["b|s2"]);
        await db.ScriptEvaluateAsync(grant, owners, ["1-1", "a|s1|1"]);
        await db.ScriptEvaluateAsync(checkedWrite, checkpoint, ["1-1", "a|s1|1", "honest"]);
        await db.ScriptEvaluateAsync(kill, sessions, ["a|s1"]);
        await db.ScriptEvaluateAsync(grant, owners, ["1-1", "b|s2|2"]);
        await db.ScriptEvaluateAsync(checkedWrite, checkpoint, ["1-1", "a|s1|1", "honest"]);
        await db.StringGetAsync("next-command");
        await Eventually.AssertAsync(() => monitor.Exclusivity.WritesRefused == 1, TimeSpan.FromSeconds(10), "the refused write is seen");
        var clean = monitor.Exclusivity;
        Assert.Multiple(() =>
        {
            Assert.That(clean.OverlappingGrants, Is.Empty, "a's session was dead when b was granted");
            Assert.That(clean.StaleWritesAccepted, Is.Empty);
            Assert.That(clean.CheckedWritesAccepted, Is.EqualTo(1));
            Assert.That(clean.StaleWritesRefused, Is.EqualTo(1));
            Assert.That(monitor.GrantsOf("1-1").Select(g => g.Token), Is.EqualTo(new[] { 1L, 2L }));
        });

        // A late write of the dead session a, refused at the session check (as every session-model script does first).
        const string sessionChecked = "local d = redis.call('ZSCORE', KEYS[1], ARGV[2]) if not d or tonumber(d) <= 1 then return -1 end return 1";
        await db.ScriptEvaluateAsync(sessionChecked, sessions, ["1-1", "a|s1", "a|s1|1"]);
        await db.StringGetAsync("next-command");
        await Eventually.AssertAsync(() => monitor.Exclusivity.StaleWritesRefused == 2, TimeSpan.FromSeconds(10), "the write refused for a dead session is counted as fenced");

        // Broken: c is granted while b's session is live, and b's stale write is accepted.
        await db.ScriptEvaluateAsync(grant, owners, ["1-1", "c|s3|3"]);
        await db.ScriptEvaluateAsync(checkedWrite, checkpoint, ["1-1", "b|s2|2", "broken"]);
        await Eventually.AssertAsync(() => monitor.Exclusivity.StaleWritesAccepted.Count == 1, TimeSpan.FromSeconds(10), "the stale write accepted is reported");
        Assert.That(monitor.Exclusivity.OverlappingGrants, Has.Count.EqualTo(1).And.Some.Contains("token 3"));
    }

    /// <summary>
    /// The per-session counts the fault scenarios assert can fail, and a revival is caught: scripts shaped like
    /// renew.lua (ZSCORE the caller's session, then ZADD XX a new deadline) and checkpoint.lua. The honest renewal of a
    /// dead session is refused and counted for that session only; a broken one that extends a passed deadline is
    /// reported as a revived session; a renewal gap is measured per session.
    /// </summary>
    [Test]
    public async Task Lease_monitor_counts_refusals_per_calling_session_and_reports_a_revived_session()
    {
        await using var redis = await FaultRedis.StartAsync(appendOnly: false);
        const string control = "{mon-r-input}:";
        await using var monitor = new LeaseMonitor("127.0.0.1", redis.Port, control);
        await monitor.Connected.WaitAsync(TimeSpan.FromSeconds(10));
        await using var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{redis.Port}");
        var db = connection.GetDatabase();
        RedisKey[] sessions = [control + "sessions"];
        const string open = "local t = redis.call('TIME') redis.call('ZADD', KEYS[1], 'NX', tonumber(t[1]) * 1000 + 60000, ARGV[1]) return 1";
        const string kill = "redis.call('ZADD', KEYS[1], 'XX', 1, ARGV[1]) return 1";
        // ARGV[2] == 'honest' refuses a dead session, as renew.lua does; 'broken' extends it anyway.
        const string renew = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 local d = redis.call('ZSCORE', KEYS[1], ARGV[1]) "
            + "if ARGV[2] == 'honest' and (not d or tonumber(d) <= now) then return 0 end redis.call('ZADD', KEYS[1], 'XX', now + 60000, ARGV[1]) return 1";

        await db.ScriptEvaluateAsync(open, sessions, ["a|s1"]);
        await db.ScriptEvaluateAsync(open, sessions, ["b|s2"]);
        await db.ScriptEvaluateAsync(renew, sessions, ["a|s1", "honest"]);
        await db.ScriptEvaluateAsync(renew, sessions, ["b|s2", "honest"]);
        await db.ScriptEvaluateAsync(kill, sessions, ["a|s1"]);
        // a's late renewal, refused: counted for a, not for b.
        await db.ScriptEvaluateAsync(renew, sessions, ["a|s1", "honest"]);
        await db.ScriptEvaluateAsync(renew, sessions, ["b|s2", "honest"]);
        await db.StringGetAsync("next-command");
        await Eventually.AssertAsync(() => monitor.RefusedFor("a|s1").LateCalls == 1, TimeSpan.FromSeconds(10), "a's refused late renewal is counted for a");
        Assert.Multiple(() =>
        {
            Assert.That(monitor.RefusedFor("b|s2").Total, Is.Zero, "b's accepted renewals are no refusals");
            Assert.That(monitor.Exclusivity.RevivedSessions, Is.Empty);
            Assert.That(monitor.LongestRenewalGap(0, long.MaxValue).GapMs, Is.GreaterThan(0), "b's two renewals are a gap");
            Assert.That(monitor.LongestRenewalGap(0, long.MaxValue).Session, Is.EqualTo("b|s2"));
        });

        // Broken: a's dead session is renewed anyway.
        await db.ScriptEvaluateAsync(renew, sessions, ["a|s1", "broken"]);
        await db.StringGetAsync("next-command");
        await Eventually.AssertAsync(() => monitor.Exclusivity.RevivedSessions.Count == 1, TimeSpan.FromSeconds(10), "the revival is reported");
        Assert.That(monitor.Exclusivity.RevivedSessions.Single(), Does.StartWith("a|s1"));
        Assert.That(monitor.RefusedFor("a|s1").LateCalls, Is.EqualTo(1), "a revival is not a refusal");
    }

    /// <summary>
    /// A renewal silence counts until the next renewal, or for the last one until the session ends or the deadline it set
    /// passes: a session starved past its deadline (never renewed again) is measured, one closed on time is not late.
    /// </summary>
    [Test]
    public async Task Lease_monitor_measures_a_renewal_silence_up_to_the_deadline_when_no_renewal_follows()
    {
        await using var redis = await FaultRedis.StartAsync(appendOnly: false);
        const string control = "{mon-s-input}:";
        await using var monitor = new LeaseMonitor("127.0.0.1", redis.Port, control);
        await monitor.Connected.WaitAsync(TimeSpan.FromSeconds(10));
        await using var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{redis.Port}");
        var db = connection.GetDatabase();
        RedisKey[] sessions = [control + "sessions"];
        const string open = "local t = redis.call('TIME') redis.call('ZADD', KEYS[1], 'NX', tonumber(t[1]) * 1000 + 60000, ARGV[1]) return 1";
        // As renew.lua: check the session, then set its deadline ARGV[2] ms from now.
        const string renew = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
            + "local d = redis.call('ZSCORE', KEYS[1], ARGV[1]) if not d or tonumber(d) <= now then return 0 end redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1]) return 1";
        const string close = "redis.call('ZSCORE', KEYS[1], ARGV[1]) redis.call('ZREM', KEYS[1], ARGV[1]) return 1";

        await db.ScriptEvaluateAsync(open, sessions, ["starved|s1"]);
        await db.ScriptEvaluateAsync(renew, sessions, ["starved|s1", "700"]);
        await db.ScriptEvaluateAsync(open, sessions, ["closed|s2"]);
        await db.ScriptEvaluateAsync(renew, sessions, ["closed|s2", "60000"]);
        await db.ScriptEvaluateAsync(close, sessions, ["closed|s2"]);
        await db.StringGetAsync("next-command");
        await Eventually.AssertAsync(() => monitor.LongestRenewalSilence(0, long.MaxValue, _ => true).Session == "starved|s1", TimeSpan.FromSeconds(10), "the starved session's silence is seen");
        Assert.Multiple(() =>
        {
            Assert.That(monitor.LongestRenewalSilence(0, long.MaxValue, _ => true).SilenceMs, Is.InRange(690, 800), "silent until the 700 ms deadline its renewal set");
            Assert.That(monitor.LongestRenewalSilence(0, long.MaxValue, s => s.StartsWith("closed", StringComparison.Ordinal)).SilenceMs, Is.LessThan(200), "a session closed right after its renewal was not silent long");
            Assert.That(monitor.LongestRenewalGap(0, long.MaxValue).GapMs, Is.Zero, "no two renewals of one session: no gap");
        });
    }

    /// <summary>
    /// The takeover judge of the fault scenarios on a fabricated history: a stream re-granted to the faulted session
    /// only, or not at all, is reported; one granted to another session, or completed under a higher token while the
    /// monitor was away, is taken over; records of other workers are not the target's.
    /// </summary>
    [Test]
    public void Takeover_check_reports_a_faulted_workers_stream_nobody_else_was_granted()
    {
        var target = FaultTarget.FromRecords("SIGSTOP", "worker-0",
        [
            ("1-1", "host-worker-0|s1|10"),
            ("2-1", "host-worker-0|s1|11"),
            ("3-1", "host-worker-0|s1|12"),
            ("4-1", "host-worker-0|s1|13"),
            ("5-1", "host-worker-1|s9|14"),
        ]);
        Assert.That(target.Streams.Keys, Is.EquivalentTo(new[] { "1-1", "2-1", "3-1", "4-1" }));
        Assert.That(target.Sessions, Is.EquivalentTo(new[] { "host-worker-0|s1" }));

        var grants = new Dictionary<string, LeaseMonitor.Grant[]>
        {
            ["1-1"] = [new(10, "host-worker-0", "s1"), new(20, "host-worker-2", "s3")],
            ["2-1"] = [new(11, "host-worker-0", "s1"), new(21, "host-worker-0", "s1")],
            ["3-1"] = [new(12, "host-worker-0", "s1")],
            ["4-1"] = [new(13, "host-worker-0", "s1")],
        };
        var summaries = new Dictionary<string, long?> { ["3-1"] = 30, ["4-1"] = 13 };
        var missing = target.NotTakenOver(id => grants.GetValueOrDefault(id) ?? [], id => summaries.GetValueOrDefault(id), _ => true);

        Assert.That(missing.Select(m => m.Split(' ')[0]), Is.EqualTo(new[] { "2-1", "4-1" }), "2-1 only went back to the faulted session, 4-1 was completed by it");
        Assert.That(target.NotTakenOver(id => grants.GetValueOrDefault(id) ?? [], id => summaries.GetValueOrDefault(id), id => id == "1-1"), Is.Empty, "unchecked streams are not judged");
    }

    [Test]
    public async Task Producer_writes_every_entry_once_through_a_redis_restart_with_aof()
    {
        await using var redis = await FaultRedis.StartAsync(appendOnly: true);
        // Timeouts shorter than the downtime: writes sent while Redis is down fail (rather than wait in the backlog
        // until it is back), so the producer must retry them.
        await using var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{redis.Port},abortConnect=false,connectTimeout=500,syncTimeout=500,asyncTimeout=500");
        var options = new RecoverableStreamOptions { ServiceName = "prod-" + Guid.NewGuid().ToString("N")[..8] };
        var producer = new StreamProducer(connection, options, new ServiceKeys(options.ServiceName, 1), new ProducerPlan(30, 40, 60, TimeSpan.FromSeconds(2), TimeSpan.FromMilliseconds(50)), Stopwatch.StartNew());
        var production = producer.RunAsync("data", CancellationToken.None);
        await Eventually.AssertAsync(() => producer.EntriesWritten >= 100, TimeSpan.FromSeconds(30), "the producer is writing");

        await redis.KillAndRestartAsync(keepData: true, TimeSpan.FromSeconds(2));
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
        Assert.That(producer.Retries, Is.GreaterThan(0), "the restart was felt by the producer: it retried writes that failed while Redis was down");
    }
}
