using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>
/// One owner per stream and per name: a stale local lease never shadows a newer grant, an unclaimed stream is
/// announced until someone takes it, and a data stream name has at most one live announcement.
/// </summary>
[Parallelizable(ParallelScope.Self)]
public sealed class ExclusivityTests : SharedRedisTest
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Test]
    public async Task A_stream_granted_again_to_the_same_process_replaces_its_stale_lease_and_the_new_lease_can_be_lost()
    {
        var options = TestOptions.For(lease: TimeSpan.FromSeconds(30), autoClaim: true);
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        await using var consumer = await TestConsumer.StartAsync(Redis, options);
        var id = await new StreamPublisher(Redis, options).AddStreamAsync("granted-twice");
        await Eventually.AssertAsync(() => consumer.Owned.Any(l => l.IdInLbs == id), Deadline, "the consumer owns the stream");
        var stale = consumer.Owned.Single(l => l.IdInLbs == id);

        // The record vanishes (lost control keys, a manual edit) and the stream is free again: this same process
        // claims it while its first lease is still registered.
        var session = stale.Session.Id;
        var free = db.CreateTransaction();
        _ = free.HashDeleteAsync(keys.Owners, id);
        _ = free.SortedSetRemoveAsync(keys.Owned, session + "\0" + id);
        _ = free.HashDecrementAsync(keys.Counts, session);
        _ = free.SortedSetAddAsync(keys.Free, id, 0);
        Assert.That(await free.ExecuteAsync(), Is.True);
        await db.PublishAsync(RedisChannel.Literal(keys.Events), "repaired");

        await Eventually.AssertAsync(() => consumer.Of(StreamNotificationType.StreamAdded).Count(n => n.Payload.IdInLbs == id) == 2, Deadline, "the stream is granted a second time");
        var fresh = consumer.Of(StreamNotificationType.StreamAdded).Last(n => n.Payload.IdInLbs == id).Lease!;
        Assert.Multiple(() =>
        {
            Assert.That(fresh.FencingToken, Is.GreaterThan(stale.FencingToken));
            Assert.That(stale.IsOwned, Is.False, "the stale lease ended");
            Assert.That(stale.OwnershipLost.IsCancellationRequested, Is.True, "the stale lease's OwnershipLost fired");
            Assert.That(consumer.Owned.Where(l => l.IdInLbs == id), Is.EqualTo(new[] { fresh }), "the registry holds the new lease");
        });

        // The new lease is the one the client acts on and the one a session's end takes away.
        await fresh.CheckpointAsync("1-0");
        await Ownership.KillSessionAsync(db, keys, session);
        await Eventually.AssertAsync(() => fresh.OwnershipLost.IsCancellationRequested, Deadline, "the new lease's OwnershipLost fires when its session ends");
    }

    [Test]
    public async Task Without_AutoClaim_a_released_stream_is_announced_again_until_someone_claims_it()
    {
        var service = TestOptions.NewServiceName();
        var keys = StreamKeys.For(TestOptions.For(service));
        var db = Redis.GetDatabase();
        await using var owner = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "owner", lease: TimeSpan.FromSeconds(30)));
        var id = await new StreamPublisher(Redis, TestOptions.For(service)).AddStreamAsync("announced-until-claimed");
        await Eventually.AssertAsync(() => owner.Owned.Any(l => l.IdInLbs == id), Deadline, "the owner owns the stream");
        var watcherOptions = TestOptions.For(service, consumerId: "watcher", lease: TimeSpan.FromSeconds(30));
        watcherOptions.SweepInterval = TimeSpan.FromMilliseconds(300);
        await using var watcher = await TestConsumer.StartAsync(Redis, watcherOptions);

        await owner.Client.ReleaseStreamAsync(owner.Owned.Single().Info);

        // Nobody claims it: the watcher is told again and again, not once.
        int Announcements() => watcher.Notifications.Count(n => n.Payload.IdInLbs == id && n.Type is StreamNotificationType.StreamReleased or StreamNotificationType.StreamExpired);
        await Eventually.AssertAsync(() => Announcements() >= 3, Deadline, "the unclaimed stream is announced at least three times");
        Assert.That(await db.SortedSetScoreAsync(keys.Free, id), Is.Not.Null, "it is in the free-now index while unclaimed");

        var lease = await watcher.Client.ClaimAsync(new LbsInfo("announced-until-claimed", id));
        Assert.Multiple(async () =>
        {
            Assert.That(lease.IsOwned, Is.True);
            Assert.That(await db.SortedSetScoreAsync(keys.Free, id), Is.Null, "claimed, it leaves the free-now index: no more announcements");
            Assert.That(await Ownership.RecordAsync(db, keys, id), Is.EqualTo(lease.LeaseValue));
        });
    }

    [Test]
    public async Task AddStreamAsync_returns_the_live_announcement_of_a_name_and_announces_it_anew_once_completed()
    {
        var options = TestOptions.For();
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        var publisher = new StreamPublisher(Redis, options);

        var first = await publisher.AddStreamAsync("idempotent-name");
        var retried = await publisher.AddStreamAsync("idempotent-name");
        Assert.Multiple(async () =>
        {
            Assert.That(retried, Is.EqualTo(first), "a retry returns the live announcement");
            Assert.That(await db.StreamLengthAsync(keys.Lbs), Is.EqualTo(1), "nothing new was written");
            Assert.That((string?)await db.HashGetAsync(keys.Names, "idempotent-name"), Is.EqualTo(first));
        });

        await using var consumer = await TestConsumer.StartAsync(Redis, options);
        await Eventually.AssertAsync(() => consumer.Owned.Count == 1, Deadline, "the consumer owns the stream");
        await consumer.Client.CompleteStreamAsync("idempotent-name");
        Assert.That(await db.HashExistsAsync(keys.Names, "idempotent-name"), Is.False, "completion removes the name");

        var again = await publisher.AddStreamAsync("idempotent-name");
        Assert.That(again, Is.Not.EqualTo(first), "a completed stream is announced anew");
        await Eventually.AssertAsync(() => consumer.Owned.Any(l => l.IdInLbs == again), Deadline, "the new announcement is owned");
    }

    [Test]
    public async Task Racing_publishers_add_a_name_once()
    {
        var options = TestOptions.For();
        var keys = StreamKeys.For(options);
        var connections = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => SharedRedis.Server.ConnectAsync()));
        try
        {
            var ids = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => new StreamPublisher(connections[i % connections.Length], options).AddStreamAsync("raced-name")));
            Assert.Multiple(async () =>
            {
                Assert.That(ids.Distinct().Count(), Is.EqualTo(1), "every publisher got the same id");
                Assert.That(await Redis.GetDatabase().StreamLengthAsync(keys.Lbs), Is.EqualTo(1), "one LBS entry");
            });
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }
    }

    [Test]
    public async Task A_second_raw_announcement_of_a_live_name_is_acknowledged_and_dead_lettered_as_duplicate()
    {
        var options = TestOptions.For();
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        await db.StreamCreateConsumerGroupAsync(keys.Lbs, keys.Group, "0", createStream: true);
        // A producer that writes the LBS itself (Go, Python) and retries after a lost reply.
        var first = (string)(await db.StreamAddAsync(keys.Lbs, "lbs-input", """{"DataStreamName":"retried-name"}"""))!;
        var second = (string)(await db.StreamAddAsync(keys.Lbs, "lbs-input", """{"dataStreamName":"retried-name","Info":{"try":2}}"""))!;

        await using var consumer = await TestConsumer.StartAsync(Redis, options);
        await Eventually.AssertAsync(async () => await db.StreamLengthAsync(keys.Dead) == 1, Deadline, "the duplicate is dead-lettered");
        await Eventually.AssertAsync(() => consumer.Owned.Count == 1, Deadline, "the first announcement is owned");

        var letter = (await db.StreamRangeAsync(keys.Dead)).Single();
        var pending = await db.StreamPendingMessagesAsync(keys.Lbs, keys.Group, 10, RedisValue.Null);
        Assert.Multiple(async () =>
        {
            Assert.That(consumer.Owned.Single().IdInLbs, Is.EqualTo(first));
            Assert.That((string?)letter["lbs-id"], Is.EqualTo(second));
            Assert.That((string?)letter["reason"], Is.EqualTo("duplicate"));
            Assert.That((string?)letter["live-id"], Is.EqualTo(first));
            Assert.That((string?)letter["original.lbs-input"], Does.Contain("\"try\":2"));
            Assert.That(pending.Select(p => p.MessageId.ToString()), Is.EqualTo(new[] { first }), "the duplicate is acknowledged");
            Assert.That((await db.StreamRangeAsync(keys.Lbs)).Select(e => e.Id.ToString()), Is.EqualTo(new[] { first }), "and deleted from the LBS");
            Assert.That(consumer.Of(StreamNotificationType.StreamAdded).Select(n => n.Payload.IdInLbs), Is.EqualTo(new[] { first }));
        });

        // Once the first is completed the name is free: the same producer's next announcement is work again.
        await consumer.Client.CompleteStreamAsync("retried-name");
        var third = (string)(await db.StreamAddAsync(keys.Lbs, "lbs-input", """{"DataStreamName":"retried-name"}"""))!;
        await Eventually.AssertAsync(() => consumer.Owned.Any(l => l.IdInLbs == third), Deadline, "a new announcement after completion is owned");
        Assert.That(await db.StreamLengthAsync(keys.Dead), Is.EqualTo(1), "and not dead-lettered");
    }
}
