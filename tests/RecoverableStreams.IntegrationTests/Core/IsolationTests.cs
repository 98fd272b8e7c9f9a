using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>What separates pieces of work: LBS entries, services, databases.</summary>
[Parallelizable(ParallelScope.Self)]
public sealed class IsolationTests : SharedRedisTest
{
    [Test]
    public async Task The_same_data_stream_announced_twice_is_two_independent_pieces_of_work()
    {
        var options = TestOptions.For();
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        await using var consumer = await TestConsumer.StartAsync(Redis, options);
        var publisher = new StreamPublisher(Redis, options);
        var firstId = await publisher.AddStreamAsync("twice-announced");
        var secondId = await publisher.AddStreamAsync("twice-announced");
        await Eventually.AssertAsync(() => consumer.Owned.Count == 2, TimeSpan.FromSeconds(15), "both announcements are owned");
        var first = consumer.Owned.Single(l => l.IdInLbs == firstId);
        var second = consumer.Owned.Single(l => l.IdInLbs == secondId);
        Assert.That(second.FencingToken, Is.Not.EqualTo(first.FencingToken), "two leases, two fencing tokens");
        Assert.That(await db.StringGetAsync(keys.Lease(firstId)), Is.Not.EqualTo(await db.StringGetAsync(keys.Lease(secondId))));

        // By name alone it is ambiguous; by LbsInfo each is its own piece of work.
        Assert.ThrowsAsync<InvalidOperationException>(() => consumer.Client.CompleteStreamAsync("twice-announced"));
        await consumer.Client.CompleteStreamAsync(first.Info);

        var pending = await db.StreamPendingMessagesAsync(keys.Lbs, keys.Group, 10, RedisValue.Null);
        Assert.Multiple(async () =>
        {
            Assert.That(first.IsOwned, Is.False, "the completed one is finished");
            Assert.That(second.IsOwned, Is.True, "the other one is untouched");
            Assert.That(consumer.Owned.Select(l => l.IdInLbs), Is.EqualTo(new[] { secondId }));
            Assert.That(await db.KeyExistsAsync(keys.Lease(firstId)), Is.False);
            Assert.That((string?)await db.StringGetAsync(keys.Lease(secondId)), Is.EqualTo(second.LeaseValue));
            Assert.That(pending.Select(p => p.MessageId.ToString()), Is.EqualTo(new[] { secondId }), "only the other entry is still pending");
            Assert.That(await db.StreamLengthAsync(keys.Lbs), Is.EqualTo(1));
        });

        await consumer.Client.CompleteStreamAsync("twice-announced");
        Assert.That(await db.StreamLengthAsync(keys.Lbs), Is.Zero, "now the name is unambiguous and the second completes too");
    }

    [Test]
    public async Task Two_services_on_one_Redis_never_see_each_others_streams()
    {
        var serviceX = TestOptions.NewServiceName();
        var serviceY = TestOptions.NewServiceName();
        await using var x1 = await TestConsumer.StartAsync(Redis, TestOptions.For(serviceX, autoClaim: true));
        await using var y1 = await TestConsumer.StartAsync(Redis, TestOptions.For(serviceY, autoClaim: true));
        var publisherX = new StreamPublisher(Redis, TestOptions.For(serviceX));
        var publisherY = new StreamPublisher(Redis, TestOptions.For(serviceY));
        for (var i = 0; i < 5; i++)
        {
            await publisherX.AddStreamAsync($"x-{i}");
            await publisherY.AddStreamAsync($"y-{i}");
        }

        await Eventually.AssertAsync(() => x1.Owned.Count == 5 && y1.Owned.Count == 5, TimeSpan.FromSeconds(15), "each service's consumer owns its five streams");

        // A failover in service X: expired leases and wake-ups of X must not reach Y's consumer.
        await using var x2 = await TestConsumer.StartAsync(Redis, TestOptions.For(serviceX, autoClaim: true));
        await x1.CrashAsync();
        await Eventually.AssertAsync(() => x2.Owned.Count == 5, TimeSpan.FromSeconds(20), "service X's survivor takes X's streams");

        Assert.Multiple(() =>
        {
            Assert.That(x1.Notifications.Concat(x2.Notifications).Select(n => n.Payload.DataStreamName), Is.All.StartsWith("x-"));
            Assert.That(y1.Notifications.Select(n => n.Payload.DataStreamName), Is.All.StartsWith("y-"));
            Assert.That(y1.Owned.Select(l => l.DataStreamName), Is.EquivalentTo(Enumerable.Range(0, 5).Select(i => $"y-{i}")));
            Assert.That(y1.Of(StreamNotificationType.StreamDisowned), Is.Empty);
        });
    }

    [Test]
    public async Task Consumer_and_publisher_on_database_3_keep_every_key_in_database_3()
    {
        var service = TestOptions.NewServiceName();
        RecoverableStreamOptions Options(string consumer) => WithDatabase(TestOptions.For(service, consumerId: consumer, autoClaim: true), 3);
        var keys = StreamKeys.For(Options("any"));
        var db3 = Redis.GetDatabase(3);
        var db0 = Redis.GetDatabase(0);
        await using var first = await TestConsumer.StartAsync(Redis, Options("first"));
        var id = await new StreamPublisher(Redis, Options("publisher")).AddStreamAsync("db3-session");
        await Eventually.AssertAsync(() => first.Owned.Any(l => l.IdInLbs == id), TimeSpan.FromSeconds(15), "the consumer on database 3 owns the stream");

        // Failover works in database 3 too (deadlines, claims and keyspace events all in the right database).
        await using var second = await TestConsumer.StartAsync(Redis, Options("second"));
        await first.CrashAsync();
        await Eventually.AssertAsync(() => second.Owned.Any(l => l.IdInLbs == id), TimeSpan.FromSeconds(20), "a peer on database 3 takes the stream over");

        string[] controlKeys = [keys.Lbs, keys.Lease(id), keys.Deadlines, keys.Fence, keys.Consumers];
        foreach (var key in controlKeys)
        {
            Assert.That(await db3.KeyExistsAsync(key), Is.True, $"{key} exists in database 3");
            Assert.That(await db0.KeyExistsAsync(key), Is.False, $"{key} does not exist in database 0");
        }

        Assert.That((string?)await db3.StringGetAsync(keys.Lease(id)), Is.EqualTo(second.Owned.Single().LeaseValue));
    }

    private static RecoverableStreamOptions WithDatabase(RecoverableStreamOptions options, int database)
    {
        options.Database = database;
        return options;
    }
}
