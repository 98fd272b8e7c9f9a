using System.Text;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>Progress that survives a change of owner, and that a stale owner cannot overwrite.</summary>
[Parallelizable(ParallelScope.Self)]
public sealed class CheckpointTests : SharedRedisTest
{
    [Test]
    public async Task A_new_owner_resumes_after_the_previous_owners_last_checkpoint_and_sees_its_state()
    {
        var service = TestOptions.NewServiceName();
        var dataStream = "data-" + service;
        var db = Redis.GetDatabase();
        var entryIds = new List<string>();
        for (var i = 1; i <= 6; i++)
        {
            entryIds.Add((await db.StreamAddAsync(dataStream, "n", i))!);
        }

        await using var first = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "first", autoClaim: true));
        var id = await new StreamPublisher(Redis, TestOptions.For(service)).AddStreamAsync(dataStream);
        await Eventually.AssertAsync(() => first.Owned.Any(l => l.IdInLbs == id), TimeSpan.FromSeconds(15), "the first consumer owns the stream");
        var firstLease = first.Owned.Single(l => l.IdInLbs == id);

        var processed = new List<string>();
        using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            await foreach (var entry in firstLease.ReadEntriesAsync(cancellationToken: stop.Token))
            {
                processed.Add(entry.Id!);
                await firstLease.CheckpointAsync(entry.Id!, Encoding.UTF8.GetBytes($"sum-after-{entry["n"]}"));
                if (processed.Count == 3)
                {
                    break;
                }
            }
        }

        await using var second = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "second", autoClaim: true));
        await first.CrashAsync();
        await Eventually.AssertAsync(() => second.Owned.Any(l => l.IdInLbs == id), TimeSpan.FromSeconds(20), "the second consumer takes the stream over");
        var secondLease = second.Owned.Single(l => l.IdInLbs == id);

        var checkpoint = await secondLease.GetCheckpointAsync();
        var resumed = new List<string>();
        using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            await foreach (var entry in secondLease.ReadEntriesAsync(cancellationToken: stop.Token))
            {
                resumed.Add(entry.Id!);
                if (resumed.Count == 3)
                {
                    break;
                }
            }
        }

        Assert.Multiple(() =>
        {
            Assert.That(processed, Is.EqualTo(entryIds.Take(3)));
            Assert.That(checkpoint, Is.Not.Null);
            Assert.That(checkpoint!.Position, Is.EqualTo(entryIds[2]));
            Assert.That(Encoding.UTF8.GetString(checkpoint.State.Span), Is.EqualTo("sum-after-3"));
            Assert.That(checkpoint.FencingToken, Is.EqualTo(firstLease.FencingToken), "the checkpoint records who wrote it");
            Assert.That(resumed, Is.EqualTo(entryIds.Skip(3)), "the new owner resumes right after the checkpoint");
        });
    }

    [Test]
    public async Task A_stale_owners_checkpoint_and_completion_are_refused_after_a_peer_took_the_stream()
    {
        var service = TestOptions.NewServiceName();
        // Long leases: nothing expires or renews by itself during the test; the takeover is made explicit below.
        var options = TestOptions.For(service, consumerId: "stale", lease: TimeSpan.FromSeconds(30));
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        await using var stale = await TestConsumer.StartAsync(Redis, options);
        var id = await new StreamPublisher(Redis, options).AddStreamAsync("contested-session");
        await Eventually.AssertAsync(() => stale.Owned.Any(l => l.IdInLbs == id), TimeSpan.FromSeconds(15), "the first consumer owns the stream");
        var staleLease = stale.Owned.Single(l => l.IdInLbs == id);
        await staleLease.CheckpointAsync("1-1", Encoding.UTF8.GetBytes("stale-progress"));

        // The session dies as if its owner had been frozen past its deadline; a peer claims the stream.
        await Ownership.KillSessionAsync(db, keys, staleLease.Session.Id);
        await using var successor = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "successor", lease: TimeSpan.FromSeconds(30)));
        var successorLease = await successor.Client.ClaimAsync(new LbsInfo("contested-session", id));
        await successorLease.CheckpointAsync("2-2", Encoding.UTF8.GetBytes("successor-progress"));

        Assert.ThrowsAsync<StreamOwnershipLostException>(() => staleLease.CheckpointAsync("9-9", Encoding.UTF8.GetBytes("stale-overwrite")));
        Assert.ThrowsAsync<StreamOwnershipLostException>(() => stale.Client.CompleteStreamAsync(staleLease.Info));

        var stored = await successorLease.GetCheckpointAsync();
        Assert.Multiple(async () =>
        {
            Assert.That(stored!.Position, Is.EqualTo("2-2"));
            Assert.That(Encoding.UTF8.GetString(stored.State.Span), Is.EqualTo("successor-progress"));
            Assert.That(stored.FencingToken, Is.EqualTo(successorLease.FencingToken));
            Assert.That(successorLease.FencingToken, Is.GreaterThan(staleLease.FencingToken));
            Assert.That(staleLease.IsOwned, Is.False);
            Assert.That(successorLease.IsOwned, Is.True);
            Assert.That(await db.StreamLengthAsync(keys.Lbs), Is.EqualTo(1), "the stale completion deleted nothing");
            Assert.That((string?)await db.HashGetAsync(keys.Owners, id), Is.EqualTo(successorLease.LeaseValue));
        });
        await Eventually.AssertAsync(() => stale.Of(StreamNotificationType.StreamDisowned).Any(n => n.Payload.IdInLbs == id), TimeSpan.FromSeconds(10), "the stale owner is told it lost the stream");
    }
}
