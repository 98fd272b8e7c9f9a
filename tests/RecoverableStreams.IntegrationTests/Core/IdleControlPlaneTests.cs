using RecoverableStreams.IntegrationTests.DataStreams;
using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>
/// While nothing happens, the control plane's background work does not grow with the streams owned: reconciliation
/// pages the pending list only when cheap totals disagree, and rebalancing reads the load only when a consumer joined,
/// left, or the streams that need an owner changed. Counted with Redis' commandstats and the client's own counters.
/// </summary>
[Parallelizable(ParallelScope.Self)]
public sealed class IdleControlPlaneTests
{
    [Test]
    public async Task Reconciliation_pages_the_pending_list_only_when_the_totals_disagree()
    {
        await using var server = await RedisServer.StartAsync("--save", "");
        await using var redis = await server.ConnectAsync();
        var admin = redis.GetServer(server.EndPoint);
        var db = redis.GetDatabase();
        var service = TestOptions.NewServiceName();
        var options = TestOptions.For(service, lease: TimeSpan.FromSeconds(2), autoClaim: true, maxConcurrentStreams: 200);
        options.ReconcileInterval = TimeSpan.FromSeconds(1);
        // Without rebalancing nothing but a reconciliation page reads with HMGET (loads.lua does too).
        options.Rebalance = false;
        await using var consumer = await TestConsumer.StartAsync(redis, options);
        var publisher = new StreamPublisher(redis, TestOptions.For(service));
        for (var i = 0; i < 100; i++)
        {
            await publisher.AddStreamAsync($"{service}:data:{i}");
        }

        await Eventually.AssertAsync(() => consumer.Owned.Count == 100, TimeSpan.FromSeconds(30), "the consumer owns all 100 streams");

        // The idle window: several reconciliation passes, each reading its totals with one XPENDING summary.
        await admin.ExecuteAsync("CONFIG", "RESETSTAT");
        var pagesBefore = consumer.Client.PendingPagesRead;
        await Eventually.AssertAsync(async () => await CommandStats.CallsAsync(admin, "xpending") >= 4, TimeSpan.FromSeconds(30), "four reconciliation passes checked their totals");
        var idle = await CommandStats.SnapshotAsync(admin, "xpending", "hmget", "xreadgroup", "xinfo|groups");
        var pagesInWindow = consumer.Client.PendingPagesRead - pagesBefore;
        TestContext.Out.WriteLine($"Idle window: pending pages read {pagesInWindow}, " + string.Join(", ", idle.Select(kv => $"{kv.Key}={kv.Value}")));
        Assert.Multiple(() =>
        {
            // Counted by the reconciler itself (an HMGET count, used before, also counts a claim after a session of
            // this consumer was lost to a slow moment on a loaded box: it failed a clean-clone run with "But was: 1").
            Assert.That(pagesInWindow, Is.Zero, "no page of the pending list was read while the totals agreed");
            // The LBS reader still reads every PollInterval (and on wake-ups); a read that finds nothing asks for no lag.
            Assert.That(idle["xreadgroup"], Is.GreaterThan(0), "the LBS reader read in the window");
            Assert.That(idle["xinfo|groups"], Is.Zero, "no XINFO on a read that read nothing");
        });

        // A pending entry nobody owns (delivered to another client): the totals disagree, and the pass repairs it.
        // Added and read by the other client in one transaction: the consumer's reader, woken by the XADD, must not read
        // it first (then it would simply be granted, and no page would need reading).
        var transaction = db.CreateTransaction();
        var added = transaction.StreamAddAsync(service + "-input", "lbs-input", $$"""{"DataStreamName":"{{service}}:orphan"}""");
        var delivered = transaction.StreamReadGroupAsync(service + "-input", service + "-group", "other-client", ">", 1);
        Assert.That(await transaction.ExecuteAsync(), Is.True);
        var orphan = await added;
        Assert.That((await delivered).Select(e => (string)e.Id!), Is.EqualTo(new[] { (string)orphan! }), "the other client read the orphan");
        await Eventually.AssertAsync(() => consumer.Owned.Any(l => l.IdInLbs == (string)orphan!), TimeSpan.FromSeconds(30), "the orphan is found and owned");
        Assert.That(consumer.Client.PendingPagesRead - pagesBefore, Is.GreaterThan(0), "a page of the pending list was read once the totals disagreed");
    }

    [Test]
    public async Task Rebalancing_reads_the_load_only_when_a_consumer_joins_or_the_streams_change()
    {
        await using var server = await RedisServer.StartAsync("--save", "");
        await using var redis = await server.ConnectAsync();
        var db = redis.GetDatabase();
        var service = TestOptions.NewServiceName();
        Task<TestConsumer> Start(string id) => TestConsumer.StartAsync(redis, TestOptions.For(service, consumerId: id, lease: TimeSpan.FromSeconds(1), autoClaim: true, maxConcurrentStreams: 100));

        await using var a = await Start("a");
        await using var b = await Start("b");
        var publisher = new StreamPublisher(redis, TestOptions.For(service));
        for (var i = 0; i < 40; i++)
        {
            await publisher.AddStreamAsync($"{service}:data:{i}");
        }

        await Eventually.AssertAsync(() => a.Owned.Count + b.Owned.Count == 40 && Math.Abs(a.Owned.Count - b.Owned.Count) <= 1, TimeSpan.FromSeconds(30), "two consumers share 40 streams evenly");

        // The idle window: several renew intervals (333 ms each) of a balanced, unchanging fleet, after one second in
        // which the last hand-over round (if any) saw that nothing is left to do.
        var settled = await SessionDeadlineAsync(db, service, "a");
        await Eventually.AssertAsync(async () => await SessionDeadlineAsync(db, service, "a") >= settled + 1000, TimeSpan.FromSeconds(30), "a's session was renewed over 1 s");
        var readsA = a.Client.Rebalancer!.LoadReads;
        var readsB = b.Client.Rebalancer!.LoadReads;
        var deadline = await SessionDeadlineAsync(db, service, "a");
        await Eventually.AssertAsync(async () => await SessionDeadlineAsync(db, service, "a") >= deadline + 1500, TimeSpan.FromSeconds(30), "a's session was renewed over 1.5 s (four or more renew intervals)");
        Assert.Multiple(() =>
        {
            Assert.That(a.Client.Rebalancer.LoadReads, Is.EqualTo(readsA), "a read no load while nothing changed");
            Assert.That(b.Client.Rebalancer.LoadReads, Is.EqualTo(readsB), "b read no load while nothing changed");
        });

        // A third consumer joins: the session count changes, the load is read and the streams spread.
        await using var c = await Start("c");
        await Eventually.AssertAsync(() => c.Owned.Count >= 12, TimeSpan.FromSeconds(30), "the newcomer gets its share");
        Assert.That(a.Client.Rebalancer.LoadReads, Is.GreaterThan(readsA), "a read the load after the join");
    }

    private static async Task<double> SessionDeadlineAsync(IDatabase db, string service, string consumerId)
    {
        var sessions = await db.SortedSetRangeByRankWithScoresAsync("{" + service + "-input}:sessions");
        return sessions.Where(s => ((string)s.Element!).StartsWith(consumerId + "|", StringComparison.Ordinal)).Select(s => s.Score).DefaultIfEmpty(0).Max();
    }
}
