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

        // Take the lease away: the renewal reports it lost, and the same consumer takes the stream back once its
        // deadline passes, under a new lease with a higher token.
        await TakeAway.OwnershipAsync(db, options.ServiceName!, id);
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
            Assert.That(await db.StreamLengthAsync(keys.Lbs), Is.EqualTo(1), "the stale lease completed nothing");
        });

        // The successor's lease is intact (an ownership-checked write passes); it finishes its own stream: released,
        // then taken again and completed.
        await successor!.CheckpointAsync("0-1");
        await successor.ReleaseAsync();
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
    public async Task A_blocking_OwnershipLost_callback_delays_neither_the_loss_of_other_streams_nor_taking_them_back()
    {
        var options = TestOptions.For(autoClaim: true);
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
            await TakeAway.OwnershipAsync(db, options.ServiceName!, blockedId);
            await Eventually.AssertAsync(() => Volatile.Read(ref entered) == 1, TimeSpan.FromSeconds(15), "the application's callback runs (and blocks)");
            Assert.That(blocked.IsOwned, Is.False, "IsOwned turned false before the callbacks ran");

            // With per-stream leases the other stream is still owned: take it away too (with session leases, losing
            // the session lost both at once).
            if (other.IsOwned)
            {
                await TakeAway.OwnershipAsync(db, options.ServiceName!, otherId);
            }

            await Eventually.AssertAsync(() => !other.IsOwned, TimeSpan.FromSeconds(10), "the other stream's loss is detected while the callback blocks");
            await Eventually.AssertAsync(
                () => consumer.Owned.Any(l => l.IdInLbs == otherId && l.FencingToken > other.FencingToken),
                TimeSpan.FromSeconds(20),
                "the consumer takes the other stream back while the callback still blocks");
            Assert.That(gate.IsSet, Is.False);
        }
        finally
        {
            gate.Set();
        }
    }
}
