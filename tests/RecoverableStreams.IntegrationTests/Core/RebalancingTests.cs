using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>
/// Live rebalancing (<see cref="RecoverableStreamOptions.Rebalance"/>): a consumer that joins late gets its fair share
/// from the others, one owner at a time; with rebalancing off it gets nothing of what they own.
/// </summary>
public sealed class RebalancingTests : SharedRedisTest
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [TestCase(1)]
    [TestCase(4)]
    public async Task A_fourth_consumer_joining_three_that_own_90_streams_gets_its_share_and_no_stream_ever_has_two_owners(int partitions)
    {
        var service = TestOptions.NewServiceName();
        var layout = PartitionLayout.For(Options(service, partitions, rebalance: true));
        var db = Redis.GetDatabase();
        var watch = new HandoverWatch();
        var consumers = new List<TestConsumer>();
        using var stopChecking = new CancellationTokenSource();
        var checking = Task.Run(() => watch.CheckRedisUntilAsync(db, layout, stopChecking.Token));
        try
        {
            for (var i = 0; i < 3; i++)
            {
                consumers.Add(await TestConsumer.StartAsync(Redis, Options(service, partitions, rebalance: true), onNotification: watch.OnNotification));
            }

            var publisher = new StreamPublisher(Redis, Options(service, partitions, rebalance: true));
            for (var n = 0; n < 90; n++)
            {
                await publisher.AddStreamAsync("stream-" + n);
            }

            await Eventually.AssertAsync(() => consumers.Sum(c => c.Owned.Count) == 90 && Spread(consumers) <= 1.2, Deadline, "three consumers own the 90 streams evenly");
            var before = consumers.Select(c => c.Owned.Count).ToArray();

            consumers.Add(await TestConsumer.StartAsync(Redis, Options(service, partitions, rebalance: true), onNotification: watch.OnNotification));

            await Eventually.AssertAsync(() => consumers.Sum(c => c.Owned.Count) == 90 && Spread(consumers) <= 1.2, Deadline,
                "the four consumers own all 90 streams with max/min <= 1.2 (now " + string.Join(", ", consumers.Select(c => c.Owned.Count)) + ")");
            await TestContext.Out.WriteLineAsync($"Owned before: {string.Join(", ", before)}; after the fourth joined: {string.Join(", ", consumers.Select(c => c.Owned.Count))}; hand-overs: {watch.HandOvers}.");

            await stopChecking.CancelAsync();
            await checking;
            await watch.CheckRedisAsync(db, layout);
            var owned = consumers.SelectMany(c => c.Owned.Select(l => l.IdInLbs)).ToArray();
            var disowned = consumers.Take(3).SelectMany(c => c.Of(StreamNotificationType.StreamDisowned)).ToArray();
            Assert.Multiple(() =>
            {
                Assert.That(watch.Violations, Is.Empty, "never two owners, locally or in Redis");
                Assert.That(owned.Distinct().Count(), Is.EqualTo(90), "every stream owned exactly once");
                Assert.That(consumers[3].Owned.Count, Is.GreaterThanOrEqualTo(90 / 4 - 4), "the newcomer got its share");
                Assert.That(consumers[3].Owned.Select(l => l.Origin), Is.All.EqualTo(LeaseOrigin.Claimed), "the newcomer claimed streams the others released");
                Assert.That(disowned, Is.Not.Empty);
                Assert.That(disowned.Select(n => n.EndReason), Is.All.EqualTo(LeaseEndReason.HandedOver), "the old owners were told why they lost each stream");
                Assert.That(consumers[3].Of(StreamNotificationType.StreamDisowned), Is.Empty, "the newcomer never hands a stream back");
            });
        }
        finally
        {
            await stopChecking.CancelAsync();
            foreach (var consumer in consumers)
            {
                await consumer.DisposeAsync();
            }
        }
    }

    [Test]
    public async Task With_rebalancing_off_a_consumer_joining_late_gets_nothing_the_others_own()
    {
        var service = TestOptions.NewServiceName();
        var options = Options(service, partitions: 1, rebalance: false);
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        var consumers = new List<TestConsumer>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                consumers.Add(await TestConsumer.StartAsync(Redis, Options(service, 1, rebalance: false)));
            }

            var publisher = new StreamPublisher(Redis, options);
            for (var n = 0; n < 90; n++)
            {
                await publisher.AddStreamAsync("stream-" + n);
            }

            await Eventually.AssertAsync(() => consumers.Sum(c => c.Owned.Count) == 90, Deadline, "three consumers own the 90 streams");
            var owners = consumers.ToDictionary(c => c, c => c.Owned.Select(l => l.IdInLbs).ToHashSet());
            var sessions = consumers.Select(c => c.Owned[0].Session.Id).ToArray();
            var deadlines = await Task.WhenAll(sessions.Select(s => Ownership.DeadlineAsync(db, keys, s)));

            var newcomer = await TestConsumer.StartAsync(Redis, Options(service, 1, rebalance: false));
            consumers.Add(newcomer);

            // Long enough for rebalancing to act: each old consumer renews its session three more times (a rebalancing
            // round runs with every renewal interval), measured on Redis's clock through the sessions' deadlines.
            var leaseDuration = Options(service, 1, rebalance: false).LeaseDuration;
            await Eventually.AssertAsync(async () =>
            {
                var now = await Task.WhenAll(sessions.Select(s => Ownership.DeadlineAsync(db, keys, s)));
                return now.Zip(deadlines).All(p => p.First >= p.Second + leaseDuration.TotalMilliseconds);
            }, Deadline, "the old consumers renew their sessions for another lease duration");

            Assert.Multiple(() =>
            {
                Assert.That(newcomer.Owned, Is.Empty, "the newcomer took nothing");
                foreach (var (consumer, ids) in owners)
                {
                    Assert.That(consumer.Owned.Select(l => l.IdInLbs).ToHashSet().SetEquals(ids), Is.True, "every old consumer kept exactly its streams");
                    Assert.That(consumer.Of(StreamNotificationType.StreamDisowned), Is.Empty);
                }
            });
        }
        finally
        {
            foreach (var consumer in consumers)
            {
                await consumer.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Capacities differ (MaxConcurrentStreams 100, 40, 10): fair shares are water-filled (docs/ARCHITECTURE.md), so
    /// 90 streams first owned by the big consumer end as 40 / 40 / 10, never above a consumer's capacity.
    /// </summary>
    [Test]
    public async Task Consumers_with_different_capacities_get_shares_capped_by_their_capacity()
    {
        var service = TestOptions.NewServiceName();
        var layout = PartitionLayout.For(Options(service, 1, rebalance: true));
        var db = Redis.GetDatabase();
        var watch = new HandoverWatch();
        var consumers = new List<TestConsumer>();
        using var stopChecking = new CancellationTokenSource();
        var checking = Task.Run(() => watch.CheckRedisUntilAsync(db, layout, stopChecking.Token));
        try
        {
            consumers.Add(await TestConsumer.StartAsync(Redis, Options(service, 1, rebalance: true, capacity: 100), onNotification: watch.OnNotification));
            var publisher = new StreamPublisher(Redis, Options(service, 1, rebalance: true));
            for (var n = 0; n < 90; n++)
            {
                await publisher.AddStreamAsync("stream-" + n);
            }

            await Eventually.AssertAsync(() => consumers[0].Owned.Count == 90, Deadline, "the big consumer owns all 90 streams");
            consumers.Add(await TestConsumer.StartAsync(Redis, Options(service, 1, rebalance: true, capacity: 40), onNotification: watch.OnNotification));
            consumers.Add(await TestConsumer.StartAsync(Redis, Options(service, 1, rebalance: true, capacity: 10), onNotification: watch.OnNotification));

            await Eventually.AssertAsync(() => consumers.Sum(c => c.Owned.Count) == 90 && consumers[2].Owned.Count == 10 && Math.Abs(consumers[0].Owned.Count - 40) <= 1,
                Deadline, "the shares are 40 / 40 / 10 (now " + string.Join(", ", consumers.Select(c => c.Owned.Count)) + ")");
            await stopChecking.CancelAsync();
            await checking;
            await watch.CheckRedisAsync(db, layout);
            Assert.Multiple(() =>
            {
                Assert.That(watch.Violations, Is.Empty, "never two owners, locally or in Redis");
                Assert.That(consumers.SelectMany(c => c.Owned.Select(l => l.IdInLbs)).Distinct().Count(), Is.EqualTo(90), "every stream owned exactly once");
            });
        }
        finally
        {
            await stopChecking.CancelAsync();
            foreach (var consumer in consumers)
            {
                await consumer.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// A consumer frees capacity (its streams complete): rebalancing moves streams from the loaded consumer to it until
    /// the two are even again.
    /// </summary>
    [Test]
    public async Task A_consumer_whose_streams_complete_is_given_streams_from_the_loaded_one()
    {
        var service = TestOptions.NewServiceName();
        var consumers = new List<TestConsumer>();
        try
        {
            for (var i = 0; i < 2; i++)
            {
                consumers.Add(await TestConsumer.StartAsync(Redis, Options(service, 1, rebalance: true)));
            }

            var publisher = new StreamPublisher(Redis, Options(service, 1, rebalance: true));
            for (var n = 0; n < 60; n++)
            {
                await publisher.AddStreamAsync("stream-" + n);
            }

            await Eventually.AssertAsync(() => consumers.Sum(c => c.Owned.Count) == 60 && Spread(consumers) <= 1.2, Deadline, "two consumers own the 60 streams evenly");
            var (freed, loaded) = (consumers[0], consumers[1]);
            var loadedBefore = loaded.Owned.Count;
            var completing = freed.Owned.Take(freed.Owned.Count - 2).ToList();
            foreach (var lease in completing)
            {
                await freed.Client.CompleteStreamAsync(lease.Info);
            }

            var left = 60 - completing.Count;
            await Eventually.AssertAsync(() => Math.Abs(freed.Owned.Count - loaded.Owned.Count) <= 1 && freed.Owned.Count + loaded.Owned.Count == left,
                Deadline, $"the {left} streams left are shared evenly again (now {freed.Owned.Count} / {loaded.Owned.Count})");
            Assert.That(loaded.Of(StreamNotificationType.StreamDisowned).Select(n => n.EndReason), Is.Not.Empty.And.All.EqualTo(LeaseEndReason.HandedOver), $"the loaded consumer (it owned {loadedBefore}) handed streams over");
        }
        finally
        {
            foreach (var consumer in consumers)
            {
                await consumer.DisposeAsync();
            }
        }
    }

    private static RecoverableStreamOptions Options(string service, int partitions, bool rebalance, int capacity = 100)
    {
        var options = TestOptions.For(service, autoClaim: true, lease: TimeSpan.FromSeconds(3), maxConcurrentStreams: capacity);
        options.Partitions = partitions;
        options.Rebalance = rebalance;
        return options;
    }

    private static double Spread(IEnumerable<TestConsumer> consumers)
    {
        var counts = consumers.Select(c => c.Owned.Count).ToArray();
        return counts.Min() == 0 ? double.PositiveInfinity : (double)counts.Max() / counts.Min();
    }
}
