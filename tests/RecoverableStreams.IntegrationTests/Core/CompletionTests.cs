using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

public sealed class CompletionTests : SharedRedisTest
{
    [Test]
    public async Task Complete_removes_the_entry_from_the_lbs_and_the_pel_and_deletes_lease_and_deadline()
    {
        var options = TestOptions.For();
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        await using var consumer = await TestConsumer.StartAsync(Redis, options);
        var publisher = new StreamPublisher(Redis, options);
        var id = await publisher.AddStreamAsync("to-complete");
        var otherId = await publisher.AddStreamAsync("to-keep");
        await Eventually.AssertAsync(() => consumer.Owned.Count == 2, TimeSpan.FromSeconds(10), "the consumer owns both streams");

        // Before: the entry is in the LBS, pending, owned and indexed.
        Assert.That(await db.StreamLengthAsync(keys.Lbs), Is.EqualTo(2));
        Assert.That((await db.StreamPendingMessagesAsync(keys.Lbs, keys.Group, 10, RedisValue.Null, id, id)).Length, Is.EqualTo(1));
        Assert.That(await db.HashExistsAsync(keys.Owners, id), Is.True);
        var session = consumer.Owned.Single(l => l.IdInLbs == id).Session.Id;
        Assert.That(await Ownership.OwnedByAsync(db, keys, session), Does.Contain(id));
        await consumer.Owned.Single(l => l.IdInLbs == id).CheckpointAsync("0-1");
        Assert.That(await db.KeyExistsAsync(keys.Checkpoint(id)), Is.True);

        await consumer.Client.CompleteStreamAsync("to-complete");

        // After: every trace of it is gone, in one script (nothing partial is ever observable); the other stream is untouched.
        Assert.That((await db.StreamRangeAsync(keys.Lbs, id, id)).Length, Is.Zero, "XRANGE");
        Assert.That(await db.StreamLengthAsync(keys.Lbs), Is.EqualTo(1), "XLEN");
        Assert.That((await db.StreamPendingMessagesAsync(keys.Lbs, keys.Group, 10, RedisValue.Null, id, id)).Length, Is.Zero, "XPENDING");
        Assert.That(await db.HashExistsAsync(keys.Owners, id), Is.False, "ownership record");
        Assert.That(await Ownership.OwnedByAsync(db, keys, session), Is.EqualTo(new[] { otherId }), "session index");
        Assert.That((long)await db.HashGetAsync(keys.Counts, session), Is.EqualTo(1), "session count");
        Assert.That(await db.HashExistsAsync(keys.Names, "to-complete"), Is.False, "name");
        Assert.That(await db.KeyExistsAsync(keys.Checkpoint(id)), Is.False, "checkpoint");
        Assert.That(consumer.Owned.Select(l => l.IdInLbs), Is.EqualTo(new[] { otherId }));
        Assert.That(await db.HashExistsAsync(keys.Owners, otherId), Is.True);
        Assert.That((await db.StreamPendingAsync(keys.Lbs, keys.Group)).PendingMessageCount, Is.EqualTo(1));
    }
}
