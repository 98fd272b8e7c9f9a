using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>
/// What a <see cref="StreamLease"/> does is bound to that lease: a stale lease cannot finish its successor, and the
/// application's <see cref="StreamLease.OwnershipLost"/> callbacks never run on the renewal path.
/// </summary>
[Parallelizable(ParallelScope.Self)]
public sealed class LeaseBoundTests : SharedRedisTest
{
    [Test]
    public async Task A_stale_lease_cannot_complete_or_release_the_lease_that_replaced_it()
    {
        var options = TestOptions.For(autoClaim: true);
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        await using var consumer = await TestConsumer.StartAsync(Redis, options);
        var id = await new StreamPublisher(Redis, options).AddStreamAsync("bound-1");
        await Eventually.AssertAsync(() => consumer.Owned.Any(l => l.IdInLbs == id), TimeSpan.FromSeconds(15), "the consumer owns the stream");
        var stale = consumer.Owned.Single(l => l.IdInLbs == id);

        // Kill the session behind the owner's back: the renewal is refused, the stream is lost, and the same consumer
        // takes it back under a new session, with a higher token.
        await Ownership.KillSessionAsync(db, keys, stale.Session.Id);
        await Eventually.AssertAsync(() => !stale.IsOwned, TimeSpan.FromSeconds(15), "the first lease is lost");
        StreamLease? successor = null;
        await Eventually.AssertAsync(
            () => (successor = consumer.Owned.FirstOrDefault(l => l.IdInLbs == id && l.FencingToken > stale.FencingToken)) is not null,
            TimeSpan.FromSeconds(20),
            "the stream is taken back under a new lease");

        Assert.ThrowsAsync<StreamOwnershipLostException>(() => stale.CompleteAsync());
        Assert.ThrowsAsync<StreamOwnershipLostException>(() => stale.ReleaseAsync());
        Assert.Multiple(async () =>
        {
            Assert.That(successor!.IsOwned, Is.True, "the successor keeps its lease");
            Assert.That(await Ownership.RecordAsync(db, keys, id), Is.EqualTo(successor.LeaseValue), "Redis still holds the successor's ownership record");
            Assert.That(await db.StreamLengthAsync(keys.Lbs), Is.EqualTo(1), "the stale lease completed nothing");
        });

        // The current lease finishes its own stream: released, then taken again and completed.
        await successor!.ReleaseAsync();
        Assert.That(successor.IsOwned, Is.False);
        StreamLease? third = null;
        await Eventually.AssertAsync(
            () => (third = consumer.Owned.FirstOrDefault(l => l.IdInLbs == id && l.FencingToken > successor.FencingToken)) is not null,
            TimeSpan.FromSeconds(20),
            "the released stream is taken again");
        await third!.CompleteAsync();
        Assert.That(await db.StreamLengthAsync(keys.Lbs), Is.Zero, "the current lease completed the stream");
        Assert.ThrowsAsync<StreamOwnershipLostException>(() => third.CompleteAsync(), "a finished lease cannot complete again");
    }

    [Test]
    public async Task A_blocking_OwnershipLost_callback_delays_neither_the_loss_of_other_streams_nor_the_next_session()
    {
        var options = TestOptions.For(autoClaim: true);
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        await using var consumer = await TestConsumer.StartAsync(Redis, options);
        var publisher = new StreamPublisher(Redis, options);
        var blockedId = await publisher.AddStreamAsync("callback-blocks");
        var otherId = await publisher.AddStreamAsync("callback-other");
        await Eventually.AssertAsync(() => consumer.Owned.Count == 2, TimeSpan.FromSeconds(15), "the consumer owns both streams");
        var blocked = consumer.Owned.Single(l => l.IdInLbs == blockedId);
        var other = consumer.Owned.Single(l => l.IdInLbs == otherId);

        using var gate = new ManualResetEventSlim();
        var entered = 0;
        using var registration = blocked.OwnershipLost.Register(() =>
        {
            Interlocked.Exchange(ref entered, 1);
            gate.Wait(TimeSpan.FromMinutes(2));
        });
        try
        {
            // The session dies in Redis: the renewal loop ends every lease of it. The application's callback on one
            // lease blocks; the renewal loop must still end the other lease and open the next session.
            await Ownership.KillSessionAsync(db, keys, blocked.Session.Id);
            await Eventually.AssertAsync(() => Volatile.Read(ref entered) == 1, TimeSpan.FromSeconds(15), "the application's callback runs (and blocks)");
            Assert.That(blocked.IsOwned, Is.False, "IsOwned turned false before the callbacks ran");
            await Eventually.AssertAsync(() => !other.IsOwned, TimeSpan.FromSeconds(10), "the other stream's loss is detected while the callback blocks");
            await Eventually.AssertAsync(
                () => consumer.Owned.Count(l => l.Session.Id != blocked.Session.Id && (l.IdInLbs == blockedId || l.IdInLbs == otherId)) == 2,
                TimeSpan.FromSeconds(20),
                "the consumer takes both streams back under its next session while the callback still blocks");
            Assert.That(Volatile.Read(ref entered), Is.EqualTo(1));
            Assert.That(gate.IsSet, Is.False, "the callback was still blocked throughout");
        }
        finally
        {
            gate.Set();
        }
    }
}
