using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>A real worker process frozen (SIGSTOP) past its lease, then resumed (SIGCONT).</summary>
[Parallelizable(ParallelScope.Self)]
public sealed class PausedOwnerTests
{
    [Test]
    public async Task A_paused_owner_finds_its_stream_claimed_on_resume_and_its_completion_and_checkpoint_are_refused()
    {
        await using var redis = await SharedRedis.Server.ConnectAsync();
        var service = TestOptions.NewServiceName();
        var options = TestOptions.For(service, consumerId: "peer", autoClaim: true);
        var keys = StreamKeys.For(options);
        var db = redis.GetDatabase();
        var id = await new StreamPublisher(redis, options).AddStreamAsync("paused-session");

        await using var worker = ConsumerProcess.Start(
            "--endpoint", SharedRedis.Server.EndPoint, "--service", service, "--consumer", "paused-owner", "--lease-ms", "2000");
        var owned = await worker.WaitForLineAsync(l => l.StartsWith($"OWNED {id} ", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "that it owns the stream");
        var workerToken = long.Parse(owned.Split(' ')[2], System.Globalization.CultureInfo.InvariantCulture);

        await using var peer = await TestConsumer.StartAsync(redis, options);
        await worker.SignalAsync("STOP");
        await Eventually.AssertAsync(() => peer.Owned.Any(l => l.IdInLbs == id), TimeSpan.FromSeconds(30), "the peer claims the frozen worker's stream");
        var peerLease = peer.Owned.Single(l => l.IdInLbs == id);

        await worker.SignalAsync("CONT");
        // On resume the worker must learn by itself (its local deadline has passed) that it lost the stream.
        await worker.WaitForLineAsync(l => l.StartsWith($"DISOWNED {id}", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "StreamDisowned");
        await worker.WaitForLineAsync(l => l == $"LOST-TOKEN {id}", TimeSpan.FromSeconds(30), "that its OwnershipLost token fired");
        await worker.WaitForLineAsync(l => l == $"CHECKPOINT-REFUSED {id}", TimeSpan.FromSeconds(30), "that its checkpoint was refused");
        await worker.WaitForLineAsync(l => l == $"COMPLETE-REFUSED {id}", TimeSpan.FromSeconds(30), "that its completion was refused");

        await TestContext.Out.WriteLineAsync(worker.Transcript);
        var pending = await db.StreamPendingMessagesAsync(keys.Lbs, keys.Group, 10, RedisValue.Null);
        Assert.Multiple(async () =>
        {
            Assert.That(worker.Lines, Has.None.StartsWith("COMPLETED ").And.None.StartsWith("CHECKPOINT-STORED "), worker.Transcript);
            Assert.That(peerLease.FencingToken, Is.GreaterThan(workerToken));
            Assert.That(peerLease.IsOwned, Is.True, "the peer still owns the stream");
            Assert.That(peer.Of(StreamNotificationType.StreamDisowned), Is.Empty);
            Assert.That((string?)await db.HashGetAsync(keys.Owners, id), Is.EqualTo(peerLease.LeaseValue), "Redis holds the peer's lease");
            Assert.That(pending.Select(p => (p.MessageId.ToString(), p.ConsumerName.ToString())), Is.EqualTo(new[] { (id, "peer") }), "the entry is still pending, with the peer");
            Assert.That(await db.KeyExistsAsync(keys.Checkpoint(id)), Is.False, "the stale owner wrote no checkpoint");
        });
    }
}
