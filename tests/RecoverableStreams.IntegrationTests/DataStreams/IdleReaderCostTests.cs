using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.DataStreams;

/// <summary>
/// Handlers waiting in <see cref="StreamLease.ReadEntriesAsync"/> on idle streams cost Redis nothing per stream: one
/// subscription for all of them, no reads while nothing is added, and a new entry wakes only its own reader.
/// Counted with Redis' commandstats on a private server, never timed.
/// </summary>
[NonParallelizable]
public sealed class IdleReaderCostTests
{
    private const int Streams = 1000;

    [Test]
    public async Task A_thousand_handlers_waiting_on_idle_streams_send_no_reads_share_one_subscription_and_an_xadd_wakes_only_its_reader()
    {
        await using var server = await RedisServer.StartAsync("--save", "");
        await using var redis = await server.ConnectAsync();
        var admin = redis.GetServer(server.EndPoint);
        var db = redis.GetDatabase();
        var service = TestOptions.NewServiceName();
        var dataStreams = Enumerable.Range(0, Streams).Select(i => $"{service}:data:{i}").ToArray();
        await Task.WhenAll(dataStreams.Select(s => db.StreamAddAsync(s, "n", 0)));

        var options = TestOptions.For(service, lease: TimeSpan.FromSeconds(10), autoClaim: true, maxConcurrentStreams: Streams);
        options.SweepInterval = TimeSpan.FromSeconds(5);
        options.DeliveryCheckInterval = TimeSpan.FromSeconds(1);
        await using var readers = await WatchedReaders.StartAsync(redis, options);
        var subscribesBefore = await CommandStats.SnapshotAsync(admin, "subscribe", "psubscribe");

        var publisher = new StreamPublisher(redis, TestOptions.For(service));
        await Task.WhenAll(dataStreams.Select(s => publisher.AddStreamAsync(s)));
        await Eventually.AssertAsync(() => readers.Watcher.WaitingReaders == Streams && dataStreams.All(s => readers.Received(s) == 1),
            TimeSpan.FromSeconds(240), $"all {Streams} handlers read their one entry and wait at the end of their stream");
        var subscribesAfter = await CommandStats.SnapshotAsync(admin, "subscribe", "psubscribe");

        // The idle window: five delivery checks (one a second), nothing added.
        await Eventually.AssertAsync(() => readers.Watcher.Delivery == Checkpoints.DataStreamWatcher.DeliveryState.Proven && readers.Watcher.SafetyPasses >= 1,
            TimeSpan.FromSeconds(30), "xadd delivery is proven by the canary, and the one pass after the proof ran");
        await admin.ExecuteAsync("CONFIG", "RESETSTAT");
        var proofsBefore = readers.Watcher.DeliveryProofs;
        var passesBefore = readers.Watcher.SafetyPasses;
        var wakeUpsBefore = readers.Watcher.EventWakeUps + readers.Watcher.SafetyWakeUps;
        await Eventually.AssertAsync(() => readers.Watcher.DeliveryProofs >= proofsBefore + 5, TimeSpan.FromSeconds(60), "five delivery checks came back");
        var idle = await CommandStats.SnapshotAsync(admin, "xrange", "xread", "xrevrange", "evalsha", "eval", "xadd");
        var proofs = readers.Watcher.DeliveryProofs - proofsBefore;
        TestContext.Out.WriteLine($"Idle window, {proofs} delivery checks over {Streams} waiting readers: " + string.Join(", ", idle.Select(kv => $"{kv.Key}={kv.Value}")));

        Assert.Multiple(() =>
        {
            Assert.That(subscribesAfter["subscribe"] - subscribesBefore["subscribe"], Is.EqualTo(1), $"{Streams} readers added exactly one SUBSCRIBE (the xadd keyevent channel)");
            Assert.That(subscribesAfter["psubscribe"] - subscribesBefore["psubscribe"], Is.Zero, "and no pattern subscription");
            // A per-reader poll every PollInterval would read each stream about twice a second here.
            Assert.That(idle["xrange"] + idle["xread"], Is.LessThan(50), $"no data reads proportional to the {Streams} idle streams");
            Assert.That(readers.Watcher.EventWakeUps + readers.Watcher.SafetyWakeUps, Is.EqualTo(wakeUpsBefore), "no reader was woken");
            // Delivery of xadd events is proven by the canary: no per-stream safety poll runs at all.
            Assert.That(idle["xrevrange"], Is.Zero, $"no XREVRANGE on the {Streams} idle data streams while delivery is proven");
            Assert.That(readers.Watcher.SafetyPasses, Is.EqualTo(passesBefore), "no safety pass ran in the window");
            Assert.That(readers.Watcher.DeliveryMisses, Is.Zero, "no canary was missed");
            // The canary is one XADD per primary per check, whatever the number of streams.
            Assert.That(idle["xadd"], Is.InRange(proofs, proofs + 2), "the idle cost is one canary XADD per check");
        });

        // One new entry wakes its own reader and no other.
        var target = dataStreams[17];
        var eventWakeUps = readers.Watcher.EventWakeUps;
        var readsBefore = await CommandStats.CallsAsync(admin, "xrange");
        await db.StreamAddAsync(target, "n", 1);
        await Eventually.AssertAsync(() => readers.Received(target) == 2, TimeSpan.FromSeconds(30), "the reader of the stream got the new entry");
        await Eventually.AssertAsync(() => readers.Watcher.WaitingReaders == Streams, TimeSpan.FromSeconds(30), "and waits again");
        var reads = await CommandStats.CallsAsync(admin, "xrange") - readsBefore;

        Assert.Multiple(() =>
        {
            Assert.That(readers.Watcher.EventWakeUps - eventWakeUps, Is.EqualTo(1), "the xadd event woke exactly one reader");
            Assert.That(readers.AllReceived.Where(kv => kv.Key != target).Select(kv => kv.Value), Is.All.EqualTo(1), "no other handler received anything");
            Assert.That(reads, Is.LessThan(10), "the wake-up cost a couple of reads, not one per stream");
        });
    }
}
