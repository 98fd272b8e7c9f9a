using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.DataStreams;

/// <summary>
/// Entries whose <c>xadd</c> wake-up never reaches the client (pub/sub connection killed, notifications switched off,
/// notifications never on) are still delivered, by the batched safety poll.
/// </summary>
[Parallelizable(ParallelScope.Self)]
public sealed class LostWakeUpTests
{
    [Test]
    public async Task An_entry_added_while_the_pubsub_connection_is_killed_is_delivered_by_the_pass_after_reconnecting()
    {
        await using var server = await RedisServer.StartAsync("--save", "");
        await using var redis = await server.ConnectAsync();
        await using var admin = await server.ConnectAsync();
        var subscriptionDropped = 0;
        redis.ConnectionFailed += (_, e) =>
        {
            if (e.ConnectionType == ConnectionType.Subscription)
            {
                Interlocked.Exchange(ref subscriptionDropped, 1);
            }
        };

        var service = TestOptions.NewServiceName();
        var dataStream = service + ":data";
        await admin.GetDatabase().StreamAddAsync(dataStream, "n", 0);
        var options = TestOptions.For(service, lease: TimeSpan.FromSeconds(10), autoClaim: true);
        // Delivery is checked once a second, so polls would show up at once if they ran while it is proven.
        options.DeliveryCheckInterval = TimeSpan.FromSeconds(1);
        await using var readers = await WatchedReaders.StartAsync(redis, options);
        await new StreamPublisher(redis, TestOptions.For(service)).AddStreamAsync(dataStream);
        await Eventually.AssertAsync(() => readers.Received(dataStream) == 1 && readers.Watcher.WaitingReaders == 1, TimeSpan.FromSeconds(30), "the handler waits at the end of its stream");
        await Eventually.AssertAsync(() => readers.Watcher.Delivery == Checkpoints.DataStreamWatcher.DeliveryState.Proven, TimeSpan.FromSeconds(30), "xadd delivery is proven by the canary");
        var passesBeforeKill = readers.Watcher.SafetyPasses;
        var eventWakeUps = readers.Watcher.EventWakeUps;
        var safetyWakeUps = readers.Watcher.SafetyWakeUps;

        // In one transaction: the subscriber is gone before the XADD publishes its event, so the event reaches nobody.
        var transaction = admin.GetDatabase().CreateTransaction();
        var kill = transaction.ExecuteAsync("CLIENT", "KILL", "TYPE", "pubsub");
        var added = transaction.StreamAddAsync(dataStream, "n", 1);
        Assert.That(await transaction.ExecuteAsync(), Is.True);
        Assert.That((long)await kill, Is.GreaterThanOrEqualTo(1), "CLIENT KILL closed the pub/sub connections");
        await added;

        await Eventually.AssertAsync(() => readers.Received(dataStream) == 2, TimeSpan.FromSeconds(30), "the entry added while disconnected is delivered");
        Assert.Multiple(() =>
        {
            Assert.That(Volatile.Read(ref subscriptionDropped), Is.EqualTo(1), "the consumer's subscription connection did drop");
            Assert.That(readers.Watcher.EventWakeUps, Is.EqualTo(eventWakeUps), "no xadd event woke the reader");
            Assert.That(readers.Watcher.SafetyWakeUps, Is.GreaterThan(safetyWakeUps), "the safety pass after reconnecting did");
            Assert.That(readers.Watcher.SafetyPasses, Is.GreaterThan(passesBeforeKill), "a pass ran after the resubscription");
        });

        // Then polls stop again: delivery is proven, and several checks pass without a pass.
        await Eventually.AssertAsync(() => readers.Watcher.Delivery == Checkpoints.DataStreamWatcher.DeliveryState.Proven, TimeSpan.FromSeconds(30), "delivery is proven again");
        var passesAfter = readers.Watcher.SafetyPasses;
        var probedAfter = readers.Watcher.ProbedStreams;
        var proofs = readers.Watcher.DeliveryProofs;
        await Eventually.AssertAsync(() => readers.Watcher.DeliveryProofs >= proofs + 3, TimeSpan.FromSeconds(30), "three more delivery checks came back");
        Assert.Multiple(() =>
        {
            Assert.That(readers.Watcher.SafetyPasses, Is.EqualTo(passesAfter), "no pass ran while delivery was proven again");
            Assert.That(readers.Watcher.ProbedStreams, Is.EqualTo(probedAfter), "and no stream was probed");
        });

        // And the subscription is back (renewed by the client: StackExchange.Redis does not restore it): the next entry is
        // announced by its event.
        await Eventually.AssertAsync(async () => await KeyeventSubscribersAsync(admin) == 1, TimeSpan.FromSeconds(30), "the xadd keyevent channel has its subscriber again");
        await admin.GetDatabase().StreamAddAsync(dataStream, "n", 2);
        await Eventually.AssertAsync(() => readers.Received(dataStream) == 3 && readers.Watcher.EventWakeUps == eventWakeUps + 1, TimeSpan.FromSeconds(30),
            "after reconnecting, an xadd event wakes the reader again");
    }

    private static async Task<long> KeyeventSubscribersAsync(ConnectionMultiplexer admin)
    {
        var reply = (RedisResult[])(await admin.GetDatabase().ExecuteAsync("PUBSUB", "NUMSUB", "__keyevent@0__:xadd"))!;
        return (long)reply[1];
    }

    [Test]
    public async Task An_entry_whose_event_is_never_published_is_delivered_by_the_periodic_safety_poll()
    {
        await using var server = await RedisServer.StartAsync("--save", "");
        await using var redis = await server.ConnectAsync();
        var admin = redis.GetServer(server.EndPoint);
        var service = TestOptions.NewServiceName();
        var dataStream = service + ":data";
        var options = TestOptions.For(service, lease: TimeSpan.FromSeconds(10), autoClaim: true);
        options.DeliveryCheckInterval = TimeSpan.FromSeconds(1);
        await using var readers = await WatchedReaders.StartAsync(redis, options);
        await new StreamPublisher(redis, TestOptions.For(service)).AddStreamAsync(dataStream);
        await Eventually.AssertAsync(() => readers.Watcher.WaitingReaders == 1, TimeSpan.FromSeconds(30), "the handler waits on its empty stream");
        await Eventually.AssertAsync(() => readers.Watcher.Delivery == Checkpoints.DataStreamWatcher.DeliveryState.Proven, TimeSpan.FromSeconds(30), "xadd delivery is proven by the canary");
        var passesWhileProven = readers.Watcher.SafetyPasses;
        var misses = readers.Watcher.DeliveryMisses;

        // The fault: the server stops publishing keyspace events after the client confirmed them.
        await admin.ConfigSetAsync("notify-keyspace-events", "");
        Assert.That((await admin.ConfigGetAsync("notify-keyspace-events")).Single().Value, Is.Empty, "events are off");
        var eventWakeUps = readers.Watcher.EventWakeUps;
        await redis.GetDatabase().StreamAddAsync(dataStream, "n", 1);

        await Eventually.AssertAsync(() => readers.Received(dataStream) == 1, TimeSpan.FromSeconds(30), "the entry is delivered anyway");
        Assert.Multiple(() =>
        {
            Assert.That(readers.Watcher.EventWakeUps, Is.EqualTo(eventWakeUps), "no event woke the reader");
            Assert.That(readers.Watcher.SafetyWakeUps, Is.GreaterThanOrEqualTo(1), "the safety poll did");
            Assert.That(readers.Watcher.DeliveryMisses, Is.GreaterThan(misses), "because the canary missed its round");
            Assert.That(readers.Watcher.SafetyPasses, Is.GreaterThan(passesWhileProven), "which started the polls");
        });

        // Polls go on while the canary misses, and stop once the flags are back and a canary returns.
        var passes = readers.Watcher.SafetyPasses;
        await Eventually.AssertAsync(() => readers.Watcher.SafetyPasses >= passes + 2, TimeSpan.FromSeconds(30), "polls repeat every PollInterval while delivery is not proven");
        await admin.ConfigSetAsync("notify-keyspace-events", "KEtx");
        await Eventually.AssertAsync(() => readers.Watcher.Delivery == Checkpoints.DataStreamWatcher.DeliveryState.Proven, TimeSpan.FromSeconds(30), "delivery is proven again");
        await Eventually.AssertAsync(async () =>
        {
            // The one pass after the proof may still be running when the proof is seen.
            var before = readers.Watcher.SafetyPasses;
            var proofs = readers.Watcher.DeliveryProofs;
            await Eventually.TrueAsync(() => readers.Watcher.DeliveryProofs >= proofs + 3, TimeSpan.FromSeconds(30));
            return readers.Watcher.SafetyPasses == before;
        }, TimeSpan.FromSeconds(60), "no pass runs over three delivery checks once delivery is proven again");
    }

    [Test]
    public async Task With_notifications_off_entries_are_delivered_by_the_batched_poll_every_PollInterval()
    {
        await using var server = await RedisServer.StartAsync("--save", "", "--notify-keyspace-events", "");
        await using var redis = await server.ConnectAsync();
        var db = redis.GetDatabase();
        var service = TestOptions.NewServiceName();
        var dataStreams = Enumerable.Range(0, 20).Select(i => $"{service}:data:{i}").ToArray();
        var options = TestOptions.For(service, lease: TimeSpan.FromSeconds(10), autoClaim: true);
        options.KeyspaceNotifications = KeyspaceNotificationsMode.Off;
        options.DeliveryCheckInterval = TimeSpan.FromSeconds(1);
        await using var readers = await WatchedReaders.StartAsync(redis, options);
        var publisher = new StreamPublisher(redis, TestOptions.For(service));
        await Task.WhenAll(dataStreams.Select(s => publisher.AddStreamAsync(s)));
        await Eventually.AssertAsync(() => readers.Watcher.WaitingReaders == dataStreams.Length, TimeSpan.FromSeconds(60), "every handler waits on its empty stream");
        await Eventually.AssertAsync(() => readers.Watcher.Delivery == Checkpoints.DataStreamWatcher.DeliveryState.Unproven, TimeSpan.FromSeconds(30),
            "without keyspace events the canary never comes back, so the batched poll runs every PollInterval");

        var moved = dataStreams.Where((_, i) => i % 7 == 3).ToArray();
        foreach (var stream in moved)
        {
            await db.StreamAddAsync(stream, "n", 1);
        }

        await Eventually.AssertAsync(() => moved.All(s => readers.Received(s) == 1), TimeSpan.FromSeconds(30), "each new entry is delivered");
        Assert.Multiple(() =>
        {
            Assert.That(readers.Watcher.EventWakeUps, Is.Zero, "no event was published");
            Assert.That(readers.Watcher.SafetyWakeUps, Is.GreaterThanOrEqualTo(moved.Length), "the batched poll woke the readers");
            Assert.That(dataStreams.Except(moved).Select(readers.Received), Is.All.Zero, "streams without entries delivered nothing");
        });
    }
}
