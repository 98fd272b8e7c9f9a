using System.Text.Json;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>
/// A consumer of the Go library redis-stream-client-go on the same group: the worker refuses to start beside a live
/// one (both could own one stream), and recovers the entries of a dead one. The Go consumer is simulated with the
/// commands the Go library sends: XREADGROUP as "redis-consumer-&lt;pod&gt;", then its redsync lease key
/// "&lt;data stream&gt;&lt;MUTEX_KEY_SEP&gt;&lt;entry id&gt;" with a TTL.
/// </summary>
[Parallelizable(ParallelScope.Self)]
public sealed class MixedFleetTests : SharedRedisTest
{
    [Test]
    public async Task A_worker_refuses_to_start_while_a_Go_library_consumer_holds_a_stream_of_its_group()
    {
        var options = TestOptions.For(autoClaim: true);
        var (entryId, leaseKey) = await GoConsumerTakesAsync(options, "go-owned-" + Guid.NewGuid().ToString("N")[..8], leaseAlive: true);

        await using var client = new RecoverableStreamClient(Redis, options);
        var refusal = Assert.ThrowsAsync<RecoverableStreamsException>(async () => await client.InitAsync());

        Assert.Multiple(async () =>
        {
            Assert.That(refusal!.Message, Does.Contain("redis-stream-client-go").And.Contain("redis-consumer-go-pod").And.Contain(leaseKey).And.Contain("docs/MIGRATING-FROM-GO.md"));
            var keys = StreamKeys.For(options);
            Assert.That(await Redis.GetDatabase().HashExistsAsync(keys.Owners, entryId), Is.False, "the refusing worker took nothing");
        });
    }

    [Test]
    public async Task A_dead_Go_consumers_entries_are_recovered_like_orphans()
    {
        // Control: the same pending entry, but the Go lease key is gone (the Go pod died and its lease expired).
        var options = TestOptions.For(autoClaim: true);
        var name = "go-dead-" + Guid.NewGuid().ToString("N")[..8];
        var (entryId, _) = await GoConsumerTakesAsync(options, name, leaseAlive: false);

        await using var consumer = await TestConsumer.StartAsync(Redis, options);

        await Eventually.AssertAsync(
            () => consumer.Owned.Any(l => l.DataStreamName == name && l.IdInLbs == entryId),
            TimeSpan.FromSeconds(60),
            "the worker started and owns the dead Go consumer's entry");
    }

    private async Task<(string EntryId, string LeaseKey)> GoConsumerTakesAsync(RecoverableStreamOptions options, string dataStream, bool leaseAlive)
    {
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        await db.StreamCreateConsumerGroupAsync(keys.Lbs, keys.Group, "0", createStream: true);
        var payload = JsonSerializer.Serialize(new { DataStreamName = dataStream, Info = new { } });
        var id = (string)(await db.StreamAddAsync(keys.Lbs, "lbs-input", payload))!;
        var read = await db.StreamReadGroupAsync(keys.Lbs, keys.Group, "redis-consumer-go-pod", ">", 10);
        Assert.That(read.Select(e => (string)e.Id!), Does.Contain(id), "the simulated Go consumer read the entry");
        var leaseKey = dataStream + "<MUTEX_KEY_SEP>" + id;
        if (leaseAlive)
        {
            await db.StringSetAsync(leaseKey, Guid.NewGuid().ToString("N"), TimeSpan.FromMinutes(1));
        }
        else
        {
            // The Go pod died ten minutes ago: its entry has been idle since (XCLAIM to itself with IDLE, as Redis allows).
            await db.ExecuteAsync("XCLAIM", keys.Lbs, keys.Group, "redis-consumer-go-pod", 0, id, "IDLE", 600_000);
        }

        return (id, leaseKey);
    }
}
