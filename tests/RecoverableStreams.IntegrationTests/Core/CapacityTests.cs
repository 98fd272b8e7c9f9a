using System.Collections.Concurrent;
using System.Diagnostics;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>How much a consumer takes on, how a backlog is shared, and what keeping many leases costs.</summary>
[Parallelizable(ParallelScope.Self)]
public sealed class CapacityTests : SharedRedisTest
{
    [Test]
    public async Task MaxConcurrentStreams_is_never_exceeded_while_a_backlog_is_processed()
    {
        const int cap = 4;
        var service = TestOptions.NewServiceName();
        var keys = StreamKeys.For(TestOptions.For(service));
        var db = Redis.GetDatabase();
        var publisher = new StreamPublisher(Redis, TestOptions.For(service));

        // A crashed consumer leaves 20 expired streams behind, and 20 new ones arrive: the backlog takes both paths.
        await using var crashing = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "crashing", maxConcurrentStreams: 20));
        await Task.WhenAll(Enumerable.Range(0, 20).Select(i => publisher.AddStreamAsync($"expired-{i}")));
        await Eventually.AssertAsync(() => crashing.Owned.Count == 20, TimeSpan.FromSeconds(15), "the crashing consumer owns 20 streams");
        await crashing.CrashAsync();

        var workers = new List<TestConsumer>();
        var completed = new ConcurrentDictionary<string, bool>();
        for (var i = 0; i < 2; i++)
        {
            TestConsumer? self = null;
            self = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: $"worker-{i}", autoClaim: true, maxConcurrentStreams: cap), onNotification: n =>
            {
                if (n.Type == StreamNotificationType.StreamAdded)
                {
                    // Work on each stream for a moment, then complete it, so the slots turn over.
                    _ = Task.Run(async () =>
                    {
                        await Task.Delay(50);
                        await self!.Client.CompleteStreamAsync(n.Lease!.Info);
                        completed[n.Payload.IdInLbs] = true;
                    });
                }

                return Task.CompletedTask;
            });
            workers.Add(self);
        }

        try
        {
            var worstLocal = 0;
            var worstInRedis = 0L;
            using var stopSampling = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!stopSampling.IsCancellationRequested)
                {
                    worstLocal = Math.Max(worstLocal, workers.Max(w => w.Owned.Count));
                    var perConsumer = await db.StreamPendingAsync(keys.Lbs, keys.Group);
                    foreach (var consumer in perConsumer.Consumers.Where(c => c.Name.ToString().StartsWith("worker-", StringComparison.Ordinal)))
                    {
                        worstInRedis = Math.Max(worstInRedis, consumer.PendingMessageCount);
                    }

                    await Task.Delay(2);
                }
            });

            await Task.WhenAll(Enumerable.Range(0, 20).Select(i => publisher.AddStreamAsync($"new-{i}")));
            await Eventually.AssertAsync(() => completed.Count == 40, TimeSpan.FromSeconds(40), "all 40 streams are processed");
            await stopSampling.CancelAsync();
            await sampler;

            Assert.Multiple(async () =>
            {
                Assert.That(worstLocal, Is.InRange(1, cap), "owned streams per consumer, sampled continuously");
                Assert.That(worstInRedis, Is.InRange(1, cap), "pending entries per consumer in Redis, sampled continuously");
                Assert.That(await db.StreamLengthAsync(keys.Lbs), Is.Zero);
            });
        }
        finally
        {
            foreach (var worker in workers)
            {
                await worker.DisposeAsync();
            }
        }
    }

    [Test]
    public async Task A_backlog_spreads_over_the_consumers_instead_of_landing_on_the_first()
    {
        var service = TestOptions.NewServiceName();
        var publisher = new StreamPublisher(Redis, TestOptions.For(service));
        await Task.WhenAll(Enumerable.Range(0, 60).Select(i => publisher.AddStreamAsync($"backlog-{i}")));

        var consumers = await Task.WhenAll(Enumerable.Range(0, 3).Select(i =>
            TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: $"share-{i}", autoClaim: true, maxConcurrentStreams: 30))));
        try
        {
            await Eventually.AssertAsync(() => consumers.Sum(c => c.Owned.Count) == 60, TimeSpan.FromSeconds(20), "the whole backlog is owned");
            var shares = consumers.Select(c => c.Owned.Count).ToArray();
            await TestContext.Out.WriteLineAsync("shares: " + string.Join(", ", shares));
            Assert.That(shares, Is.All.GreaterThan(0), $"every consumer has a share: {string.Join(", ", shares)}");
        }
        finally
        {
            foreach (var consumer in consumers)
            {
                await consumer.DisposeAsync();
            }
        }
    }

    [Test]
    public async Task Renewing_1000_owned_streams_costs_one_script_call_per_renew_interval()
    {
        const int streams = 1000;
        await using var server = await RedisServer.StartAsync();
        await using var redis = await server.ConnectAsync();
        var admin = redis.GetServer(server.EndPoint);
        var options = TestOptions.For(lease: TimeSpan.FromSeconds(4), autoClaim: true, maxConcurrentStreams: streams);
        // Only the renewer may run scripts in the window: the reader has no free slot, the rest sleep long.
        options.PollInterval = TimeSpan.FromMinutes(5);
        options.SweepInterval = TimeSpan.FromMinutes(5);
        options.ReconcileInterval = TimeSpan.FromMinutes(10);
        var renewInterval = TimeSpan.FromSeconds(1);
        options.RenewInterval = renewInterval;
        // Renewal alone: rebalancing adds one loads.lua call per partition and renew interval (RebalancingTests).
        options.Rebalance = false;

        await using var consumer = await TestConsumer.StartAsync(redis, options);
        var publisher = new StreamPublisher(redis, options);
        await Task.WhenAll(Enumerable.Range(0, streams).Select(i => publisher.AddStreamAsync($"many-{i}")));
        await Eventually.AssertAsync(() => consumer.Owned.Count == streams, TimeSpan.FromSeconds(30), "the consumer owns 1000 streams");

        await admin.ConfigResetStatisticsAsync();
        var window = Stopwatch.StartNew();
        var intervals = 5;
        // The measurement window: a duration to observe, not a wait for a condition.
        await Task.Delay(renewInterval * intervals);
        var stats = await admin.InfoAsync("commandstats");
        window.Stop();

        var scriptCalls = stats.SelectMany(g => g)
            .Where(p => p.Key is "cmdstat_evalsha" or "cmdstat_eval")
            .Sum(p => long.Parse(p.Value.Split(',')[0]["calls=".Length..], System.Globalization.CultureInfo.InvariantCulture));
        var allowed = (long)Math.Ceiling(window.Elapsed / renewInterval) + 2;
        await TestContext.Out.WriteLineAsync($"{scriptCalls} script calls in {window.Elapsed.TotalSeconds:0.00} s with {streams} owned streams (allowed {allowed})");
        Assert.Multiple(() =>
        {
            Assert.That(scriptCalls, Is.InRange(1, allowed), $"script calls in {window.Elapsed.TotalSeconds:0.0} s with {streams} leases (renew interval {renewInterval.TotalSeconds} s)");
            Assert.That(consumer.Owned, Has.Count.EqualTo(streams), "every lease is still owned");
            Assert.That(consumer.Of(StreamNotificationType.StreamDisowned), Is.Empty);
        });
    }
}
