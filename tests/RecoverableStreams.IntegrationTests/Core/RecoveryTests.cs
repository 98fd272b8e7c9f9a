using System.Diagnostics;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

public sealed class RecoveryTests : SharedRedisTest
{
    [Test]
    public async Task A_consumer_restarted_after_a_crash_with_the_same_id_recovers_its_unfinished_streams()
    {
        var service = TestOptions.NewServiceName();
        var options = TestOptions.For(service, consumerId: "restarting", autoClaim: true);
        var (idA, idB, oldTokens) = await OwnTwoStreamsThenStopAsync(options, crash: true);

        await using var restarted = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "restarting", autoClaim: true));

        await Eventually.AssertAsync(() => restarted.Owned.Count == 2, TimeSpan.FromSeconds(15), "the restarted consumer takes back both streams");
        AssertRecovered(restarted, idA, idB, oldTokens);
    }

    [Test]
    public async Task A_consumer_restarted_after_a_crash_without_auto_claim_is_told_and_its_claims_are_recovered()
    {
        var service = TestOptions.NewServiceName();
        var (idA, idB, oldTokens) = await OwnTwoStreamsThenStopAsync(TestOptions.For(service, consumerId: "restarting"), crash: true);

        await using var restarted = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "restarting"));

        await Eventually.AssertAsync(() => restarted.Of(StreamNotificationType.StreamExpired).Count == 2, TimeSpan.FromSeconds(15), "both expired streams are announced");
        foreach (var expired in restarted.Of(StreamNotificationType.StreamExpired))
        {
            var lease = await restarted.Client.ClaimAsync(expired.Payload);
            Assert.That(lease.Origin, Is.EqualTo(LeaseOrigin.Recovered));
            Assert.That(lease.ConsumerId, Is.EqualTo("restarting"));
            Assert.That(lease.AdditionalInfo!["n"].GetInt32(), Is.EqualTo(expired.Payload.IdInLbs == idA ? 1 : 2));
        }

        Assert.That(restarted.Owned.Select(l => l.IdInLbs), Is.EquivalentTo(new[] { idA, idB }));
        Assert.That(restarted.Owned.Min(l => l.FencingToken), Is.GreaterThan(oldTokens.Max()));
    }

    [Test]
    public async Task A_consumer_restarted_after_done_with_the_same_id_recovers_its_released_streams()
    {
        var service = TestOptions.NewServiceName();
        var (idA, idB, oldTokens) = await OwnTwoStreamsThenStopAsync(TestOptions.For(service, consumerId: "restarting", autoClaim: true), crash: false);

        await using var restarted = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "restarting", autoClaim: true));

        await Eventually.AssertAsync(() => restarted.Owned.Count == 2, TimeSpan.FromSeconds(15), "the restarted consumer takes back both streams");
        AssertRecovered(restarted, idA, idB, oldTokens);
    }

    /// <summary>
    /// 20,000 entries pending for a consumer that no longer exists: startup returns at once, the reconciler pages the
    /// PEL once (no page read twice), and the consumers claim and complete every entry.
    /// </summary>
    [Test]
    public async Task Twenty_thousand_orphaned_entries_are_recovered_without_blocking_startup_and_each_page_is_read_once()
    {
        const int Orphans = 20_000;
        const int PageSize = 500;
        // A private server (an argument forces one even with REDIS_TEST_CONNECTION): its command statistics are this test's alone.
        await using var server = await RedisServer.StartAsync("--loglevel", "warning");
        await using var redis = await server.ConnectAsync();
        var db = redis.GetDatabase();
        var lease = TimeSpan.FromMilliseconds(1500);
        var service = TestOptions.NewServiceName();
        var keys = StreamKeys.For(TestOptions.For(service));

        await db.StreamCreateConsumerGroupAsync(keys.Lbs, keys.Group, "0", createStream: true);
        var batch = db.CreateBatch();
        var adds = Enumerable.Range(0, Orphans)
            .Select(i => batch.StreamAddAsync(keys.Lbs, "lbs-input", $$$"""{"DataStreamName":"orphan-{{{i}}}","Info":{"i":{{{i}}}}}"""))
            .ToArray();
        batch.Execute();
        await Task.WhenAll(adds);
        // A consumer that read everything and died: its entries are pending, with no lease and no deadline.
        await db.ExecuteAsync("XREADGROUP", "GROUP", keys.Group, "dead-consumer", "COUNT", Orphans, "STREAMS", keys.Lbs, ">");
        Assert.That((await db.StreamPendingAsync(keys.Lbs, keys.Group)).PendingMessageCount, Is.EqualTo(Orphans));
        var lastId = (string)(await db.StreamRangeAsync(keys.Lbs, "-", "+", count: 1, messageOrder: Order.Descending))[0].Id!;
        await Eventually.AssertAsync(
            async () => (await db.StreamPendingMessagesAsync(keys.Lbs, keys.Group, 1, RedisValue.Null, lastId, lastId, (long)lease.TotalMilliseconds + 100)).Length == 1,
            TimeSpan.FromSeconds(10), "the orphans are idle longer than a lease");
        await redis.GetServers()[0].ExecuteAsync("CONFIG", "RESETSTAT");

        var completed = 0;
        var capture = new LogCapture();
        using var logs = capture.Factory;
        var consumers = new List<TestConsumer>();
        long pendingWhenInitReturned = -1;
        try
        {
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < 3; i++)
            {
                var options = TestOptions.For(service, lease: lease, autoClaim: true, maxConcurrentStreams: 500);
                options.KeyspaceNotifications = KeyspaceNotificationsMode.Off;
                var self = new TaskCompletionSource<TestConsumer>(TaskCreationOptions.RunContinuationsAsynchronously);
                var consumer = await TestConsumer.StartAsync(redis, options, logs, async n =>
                {
                    if (n.Type == StreamNotificationType.StreamAdded)
                    {
                        try
                        {
                            await (await self.Task).Client.CompleteStreamAsync(n.Payload);
                            Interlocked.Increment(ref completed);
                        }
                        catch (StreamOwnershipLostException)
                        {
                            // Lost under load before completing: its next owner completes it (and is counted then).
                        }
                    }
                });
                self.SetResult(consumer);
                consumers.Add(consumer);
                if (i == 0)
                {
                    // InitAsync has returned: the reconciliation of the backlog runs in the background.
                    pendingWhenInitReturned = (await db.StreamPendingAsync(keys.Lbs, keys.Group)).Consumers
                        .Where(c => c.Name == "dead-consumer").Sum(c => (long)c.PendingMessageCount);
                }
            }

            Assert.That(pendingWhenInitReturned, Is.GreaterThan(0), "InitAsync returned before the orphans were reconciled");

            await Eventually.AssertAsync(() => Volatile.Read(ref completed) == Orphans, TimeSpan.FromSeconds(40), "every orphan is claimed and completed");
            await TestContext.Out.WriteLineAsync($"{Orphans} orphans recovered and completed in {clock.Elapsed.TotalSeconds:0.0} s from the first InitAsync.");
        }
        finally
        {
            foreach (var consumer in consumers)
            {
                await consumer.DisposeAsync();
            }
        }

        // XPENDING runs in the reconcile script (one per page), once per successful claim in the claim script, once in
        // the totals check before the one reconciliation pass (reconcile_totals.lua: the summary form), and once in this
        // test (the check after the first InitAsync).
        var xpendingCalls = await CommandCallsAsync(redis, "xpending");
        var claims = consumers.Sum(c => c.Of(StreamNotificationType.StreamAdded).Count);
        Assert.That(await db.StreamLengthAsync(keys.Lbs), Is.Zero);
        Assert.That((await db.StreamPendingAsync(keys.Lbs, keys.Group)).PendingMessageCount, Is.Zero);
        Assert.That(await db.SortedSetLengthAsync(keys.Free), Is.Zero);
        Assert.That(await db.HashLengthAsync(keys.Owners), Is.Zero);

        var pages = xpendingCalls - claims - 1 - 1;
        await TestContext.Out.WriteLineAsync($"XPENDING calls {xpendingCalls}, claims {claims}, reconcile pages {pages}.");
        Assert.That(claims, Is.GreaterThanOrEqualTo(Orphans), "every orphan was claimed");
        Assert.That(pages, Is.InRange(1, (Orphans + PageSize - 1) / PageSize + 1), "no page of the PEL was read twice");
        Assert.That(capture.WithEventId(302), Has.Count.EqualTo(1), "one reconciliation pass (the guard keeps the others out)");
    }

    private static async Task<long> CommandCallsAsync(ConnectionMultiplexer redis, string command)
    {
        var info = (string)(await redis.GetServers()[0].ExecuteAsync("INFO", "commandstats"))!;
        var line = info.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith($"cmdstat_{command}:", StringComparison.Ordinal));
        if (line is null)
        {
            return 0;
        }

        var calls = line.Split(':', 2)[1].Split(',').First(p => p.StartsWith("calls=", StringComparison.Ordinal));
        return long.Parse(calls["calls=".Length..]);
    }

    private async Task<(string IdA, string IdB, long[] Tokens)> OwnTwoStreamsThenStopAsync(RecoverableStreamOptions options, bool crash)
    {
        var publisher = new StreamPublisher(Redis, options);
        var first = await TestConsumer.StartAsync(Redis, options);
        var idA = await publisher.AddStreamAsync("unfinished-a", new Dictionary<string, object?> { ["n"] = 1 });
        var idB = await publisher.AddStreamAsync("unfinished-b", new Dictionary<string, object?> { ["n"] = 2 });
        await Eventually.AssertAsync(() => first.Owned.Count == 2, TimeSpan.FromSeconds(10), "the first run owns both streams");
        var tokens = first.Owned.Select(l => l.FencingToken).ToArray();
        if (crash)
        {
            await first.CrashAsync();
        }
        else
        {
            await first.Client.DoneAsync();
        }

        return (idA, idB, tokens);
    }

    private static void AssertRecovered(TestConsumer restarted, string idA, string idB, long[] oldTokens)
    {
        Assert.That(restarted.Owned.Select(l => l.IdInLbs), Is.EquivalentTo(new[] { idA, idB }));
        var added = restarted.Of(StreamNotificationType.StreamAdded);
        Assert.That(added, Has.Count.EqualTo(2));
        foreach (var notification in added)
        {
            Assert.That(notification.Lease!.Origin, Is.EqualTo(LeaseOrigin.Recovered));
            Assert.That(notification.Lease.FencingToken, Is.GreaterThan(oldTokens.Max()));
            Assert.That(notification.AdditionalInfo!["n"].GetInt32(), Is.EqualTo(notification.Payload.IdInLbs == idA ? 1 : 2));
        }
    }
}
