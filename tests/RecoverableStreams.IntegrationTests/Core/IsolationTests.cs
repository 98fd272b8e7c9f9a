using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>What separates pieces of work: LBS entries, services, databases.</summary>
[Parallelizable(ParallelScope.Self)]
public sealed class IsolationTests : SharedRedisTest
{
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

        // Failover works in database 3 too (sessions, claims and keyspace events all in the right database).
        await using var second = await TestConsumer.StartAsync(Redis, Options("second"));
        await first.CrashAsync();
        await Eventually.AssertAsync(() => second.Owned.Any(l => l.IdInLbs == id), TimeSpan.FromSeconds(20), "a peer on database 3 takes the stream over");

        string[] controlKeys = [keys.Lbs, keys.Owners, keys.Owned, keys.Counts, keys.Sessions, keys.Fence, keys.Names];
        foreach (var key in controlKeys)
        {
            Assert.That(await db3.KeyExistsAsync(key), Is.True, $"{key} exists in database 3");
            Assert.That(await db0.KeyExistsAsync(key), Is.False, $"{key} does not exist in database 0");
        }

        Assert.That((string?)await db3.HashGetAsync(keys.Owners, id), Is.EqualTo(second.Owned.Single().LeaseValue));
    }

    private static RecoverableStreamOptions WithDatabase(RecoverableStreamOptions options, int database)
    {
        options.Database = database;
        return options;
    }
}
