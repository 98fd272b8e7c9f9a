using System.Collections.Concurrent;
using System.Text.Json;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>
/// The partitioned control plane (docs/PARTITIONS.md) against a real Redis: the publisher writes each stream to its
/// partition's LBS, one partition stays today's wire format, and on a Redis Cluster the partitions land on different
/// primaries.
/// </summary>
public sealed class PartitionTests : SharedRedisTest
{
    [Test]
    public async Task One_partition_publishes_to_todays_lbs_key_with_a_bare_entry_id()
    {
        var service = TestOptions.NewServiceName();
        var publisher = new StreamPublisher(Redis, TestOptions.For(service));

        var id = await publisher.AddStreamAsync("orders/1", new Dictionary<string, object?> { ["n"] = 1 });

        var entries = await Redis.GetDatabase().StreamRangeAsync(service + "-input");
        Assert.That(entries, Has.Length.EqualTo(1));
        Assert.That((string?)entries[0].Id, Is.EqualTo(id));
        Assert.That(entries[0].Values.Select(v => (string?)v.Name), Is.EqualTo(new[] { "lbs-input" }));
        Assert.That((string?)entries[0].Values[0].Value, Is.EqualTo("""{"DataStreamName":"orders/1","Info":{"n":1}}"""));
    }

    [Test]
    public async Task Several_partitions_publish_each_stream_to_its_partitions_lbs_and_wake_that_partition()
    {
        var service = TestOptions.NewServiceName();
        var options = TestOptions.For(service);
        options.Partitions = 4;
        var layout = PartitionLayout.For(options);
        var wakeUps = new ConcurrentBag<int>();
        var subscriber = Redis.GetSubscriber();
        for (var i = 0; i < layout.Count; i++)
        {
            var partition = i;
            await subscriber.SubscribeAsync(RedisChannel.Literal(layout[i].Events), (_, message) =>
            {
                if (message == "added")
                {
                    wakeUps.Add(partition);
                }
            });
        }

        var publisher = new StreamPublisher(Redis, options);
        var ids = new Dictionary<string, string>();
        for (var n = 0; n < 40; n++)
        {
            ids["stream-" + n] = await publisher.AddStreamAsync("stream-" + n);
        }

        var db = Redis.GetDatabase();
        Assert.That(await db.KeyExistsAsync(service + "-input"), Is.False, "nothing goes to the unpartitioned key");
        var found = new Dictionary<string, string>();
        for (var i = 0; i < layout.Count; i++)
        {
            Assert.That(layout[i].Lbs, Does.StartWith($"{service}-input:{i}:"));
            var entries = await db.StreamRangeAsync(layout[i].Lbs);
            Assert.That(entries, Is.Not.Empty, $"partition {i} got no stream out of 40");
            foreach (var entry in entries)
            {
                var name = JsonDocument.Parse((string)entry[LbsInputMessage.FieldName]!).RootElement.GetProperty("DataStreamName").GetString()!;
                Assert.That(PartitionLayout.PartitionOf(name, 4), Is.EqualTo(i), name);
                found[name] = $"{i}:{entry.Id}";
            }
        }

        Assert.That(found, Is.EquivalentTo(ids), "every returned id is <partition>:<entry id> of the entry written");
        await Eventually.AssertAsync(() => wakeUps.Count == 40, TimeSpan.FromSeconds(10), "one wake-up per announcement, on its partition's channel");
        Assert.That(wakeUps.GroupBy(p => p).ToDictionary(g => g.Key, g => g.Count()),
            Is.EquivalentTo(ids.Values.GroupBy(id => int.Parse(id.Split(':')[0])).ToDictionary(g => g.Key, g => g.Count())));
    }

    [Test]
    public async Task Consumers_serve_every_partition_streams_are_owned_once_completed_and_failed_over()
    {
        var service = TestOptions.NewServiceName();
        RecoverableStreamOptions Options()
        {
            var o = TestOptions.For(service, autoClaim: true, lease: TimeSpan.FromSeconds(3));
            o.Partitions = 4;
            // Partitions alone (RebalancingTests covers rebalancing over partitions): no stream moves between the checks.
            o.Rebalance = false;
            return o;
        }

        var layout = PartitionLayout.For(Options());
        var db = Redis.GetDatabase();
        var watch = new HandoverWatch();
        var consumers = new List<TestConsumer>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                consumers.Add(await TestConsumer.StartAsync(Redis, Options(), onNotification: watch.OnNotification));
            }

            var publisher = new StreamPublisher(Redis, Options());
            var ids = new Dictionary<string, string>();
            for (var n = 0; n < 40; n++)
            {
                ids["stream-" + n] = await publisher.AddStreamAsync("stream-" + n);
            }

            Assert.That(ids.Values.Select(id => id.Split(':')[0]).Distinct().Count(), Is.EqualTo(4), "the 40 names spread over the 4 partitions");
            await Eventually.AssertAsync(() => consumers.Sum(c => c.Owned.Count) == 40, TimeSpan.FromSeconds(30), "the consumers own every stream of every partition");
            var owned = consumers.SelectMany(c => c.Owned).ToArray();
            Assert.That(owned.Select(l => l.IdInLbs).Order(), Is.EqualTo(ids.Values.Order()), "each stream once, under its partition-qualified id");
            foreach (var lease in owned)
            {
                Assert.That(lease.IdInLbs, Is.EqualTo(ids[lease.DataStreamName]));
            }

            // Redis agrees, partition by partition: one record per stream, naming a session of the consumer that owns it.
            for (var i = 0; i < layout.Count; i++)
            {
                var records = await db.HashGetAllAsync(layout[i].Owners);
                Assert.That(records.Select(r => i + ":" + r.Name).Order(), Is.EqualTo(ids.Values.Where(id => id.StartsWith(i + ":", StringComparison.Ordinal)).Order()), $"partition {i}'s records");
            }

            // Completing removes the entry from its partition's LBS.
            var completed = owned.Take(10).ToArray();
            foreach (var lease in completed)
            {
                await consumers.Single(c => c.Owned.Contains(lease)).Client.CompleteStreamAsync(lease.Info);
            }

            var lbsLength = 0L;
            foreach (var keys in layout.Partitions)
            {
                lbsLength += await db.StreamLengthAsync(keys.Lbs);
            }

            Assert.That(lbsLength, Is.EqualTo(30), "each completed stream left its partition's LBS");

            // A crash: the survivors take the crashed consumer's streams in every partition.
            var crashed = consumers.OrderByDescending(c => c.Owned.Count).First();
            Assert.That(crashed.Owned, Is.Not.Empty);
            var survivors = consumers.Where(c => c != crashed).ToArray();
            await crashed.CrashAsync();
            await Eventually.AssertAsync(() => survivors.Sum(c => c.Owned.Count) == 30, TimeSpan.FromSeconds(30), "the survivors own the 30 unfinished streams");
            Assert.That(survivors.SelectMany(c => c.Owned.Select(l => l.IdInLbs)).Distinct().Count(), Is.EqualTo(30));
            await watch.CheckRedisAsync(db, layout);
            Assert.That(watch.Violations, Is.Empty);
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
    public async Task On_a_three_primary_cluster_each_of_three_partitions_lives_on_its_own_primary()
    {
        await using var cluster = await RedisCluster.StartAsync();
        await using var redis = await cluster.ConnectAsync();
        var options = TestOptions.For();
        options.Partitions = 3;
        var layout = PartitionLayout.For(options);
        var publisher = new StreamPublisher(redis, options);

        for (var n = 0; n < 30; n++)
        {
            await publisher.AddStreamAsync("stream-" + n);
        }

        var holders = new List<string>();
        // Replicas hold copies of their primary's keys: count what each primary serves.
        foreach (var primary in (await cluster.TopologyAsync()).Where(n => n.IsPrimary))
        {
            var endPoint = "127.0.0.1:" + primary.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var server = redis.GetServer(endPoint);
            var local = new List<string>();
            await foreach (var key in server.KeysAsync(pattern: options.ServiceName + "-input*"))
            {
                local.Add((string)key!);
            }

            Assert.That(local, Has.Count.EqualTo(1), $"{endPoint} holds exactly one partition's LBS: {string.Join(", ", local)}");
            holders.Add(local[0]);
            foreach (var key in local)
            {
                var slot = (long)await server.ExecuteAsync("CLUSTER", "KEYSLOT", key);
                Assert.That(slot, Is.EqualTo(HashSlot.Of(key)), "the library's slot is the server's");
            }
        }

        Assert.That(holders, Is.EquivalentTo(layout.Partitions.Select(k => k.Lbs)));
    }
}
