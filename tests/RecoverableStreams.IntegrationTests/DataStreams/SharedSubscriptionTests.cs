using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.DataStreams;

/// <summary>Clients of several services on one connection share its one <c>xadd</c> keyevent subscription.</summary>
[Parallelizable(ParallelScope.Self)]
public sealed class SharedSubscriptionTests
{
    [Test]
    public async Task Two_clients_on_one_connection_share_one_subscription_that_outlives_the_first_to_stop()
    {
        await using var server = await RedisServer.StartAsync("--save", "");
        await using var redis = await server.ConnectAsync();
        await using var admin = await server.ConnectAsync();
        var db = admin.GetDatabase();
        var serviceA = TestOptions.NewServiceName();
        var serviceB = TestOptions.NewServiceName();
        var streamA = serviceA + ":data";
        var streamB = serviceB + ":data";

        var optionsA = TestOptions.For(serviceA, lease: TimeSpan.FromSeconds(10), autoClaim: true);
        var optionsB = TestOptions.For(serviceB, lease: TimeSpan.FromSeconds(10), autoClaim: true);
        optionsA.DeliveryCheckInterval = optionsB.DeliveryCheckInterval = TimeSpan.FromMinutes(10);
        var readersA = await WatchedReaders.StartAsync(redis, optionsA);
        await using var readersB = await WatchedReaders.StartAsync(redis, optionsB);
        await new StreamPublisher(redis, TestOptions.For(serviceA)).AddStreamAsync(streamA);
        await new StreamPublisher(redis, TestOptions.For(serviceB)).AddStreamAsync(streamB);
        await Eventually.AssertAsync(() => readersA.Watcher.WaitingReaders == 1 && readersB.Watcher.WaitingReaders == 1, TimeSpan.FromSeconds(30), "both handlers wait");

        Assert.That(await SubscribersAsync(admin), Is.EqualTo(1), "one subscription for both clients");
        await db.StreamAddAsync(streamA, "n", 1);
        await db.StreamAddAsync(streamB, "n", 1);
        await Eventually.AssertAsync(() => readersA.Received(streamA) == 1 && readersB.Received(streamB) == 1, TimeSpan.FromSeconds(30), "each entry reaches its own handler");
        Assert.That(readersA.Watcher.EventWakeUps + readersB.Watcher.EventWakeUps, Is.EqualTo(2), "each by its xadd event");

        await readersA.DisposeAsync();
        Assert.That(await SubscribersAsync(admin), Is.EqualTo(1), "the subscription stays while the other client reads");
        await db.StreamAddAsync(streamB, "n", 2);
        await Eventually.AssertAsync(() => readersB.Received(streamB) == 2 && readersB.Watcher.EventWakeUps == 2, TimeSpan.FromSeconds(30),
            "the remaining client is still woken by events");

        await readersB.DisposeAsync();
        await Eventually.AssertAsync(async () => await SubscribersAsync(admin) == 0, TimeSpan.FromSeconds(30), "the last client to stop unsubscribes");
    }

    private static async Task<long> SubscribersAsync(ConnectionMultiplexer admin)
    {
        var reply = (RedisResult[])(await admin.GetDatabase().ExecuteAsync("PUBSUB", "NUMSUB", "__keyevent@0__:xadd"))!;
        return (long)reply[1];
    }
}
