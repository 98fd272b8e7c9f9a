using System.Globalization;
using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Topologies;

/// <summary>
/// Issue 8, item 1: a stream's fencing tokens strictly increase, even when Redis forgets the grants it made (a replica
/// promoted before the last writes reached it, a restart without persistence). A store downstream that keeps the
/// highest token it has seen would otherwise refuse the rightful owner. Each test proves the loss happened, then asks
/// for the next grant of the same stream through the public API (<see cref="StreamLease.FencingToken"/>).
/// </summary>
[Parallelizable(ParallelScope.Self)]
public sealed class FencingTokenTests
{
    private const string Stream = "fenced";

    [Test]
    public async Task A_streams_next_token_is_larger_after_a_promotion_that_lost_its_last_grant()
    {
        await using var group = await RedisSentinelGroup.StartAsync(refuseWritesWithoutReplica: false);
        var (primary, replica) = (group.DataNodes[0], group.DataNodes[1]);
        var service = TestOptions.NewServiceName();
        long lost;
        long primaryOffsetBeforeGrant;
        await using (var redis = await group.ConnectAsync())
        {
            var db = redis.GetDatabase();
            await new StreamPublisher(redis, TestOptions.For(service)).AddStreamAsync(Stream);
            Assert.That((long)await db.ExecuteAsync("WAIT", 1, 10000), Is.EqualTo(1), "the announcement reached the replica");

            // Hold the replica back: stopped (SIGSTOP by its PID), it reads nothing, so once the replication link's
            // socket buffers are full the primary keeps every later write in its own memory (no output limit) and
            // loses it when it dies, like an asynchronous replica that lagged behind.
            await LocalTopology.CliAsync(primary.Port, "CONFIG", "SET", "client-output-buffer-limit", "replica 0 0 0");
            await RedisSentinelGroup.SignalAsync(replica, "STOP");
            try
            {
                var filler = new byte[4 * 1024 * 1024];
                for (var i = 0; i < 16; i++)
                {
                    await db.StringSetAsync($"{service}:filler:{i}", filler);
                }

                primaryOffsetBeforeGrant = Offset(await LocalTopology.CliAsync(primary.Port, "INFO", "replication"), "master_repl_offset");
                await using var owner = await TestConsumer.StartAsync(redis, TestOptions.For(service, consumerId: "owner"));
                await Eventually.AssertAsync(() => owner.Owned.Count == 1, TimeSpan.FromSeconds(30), "the owner is granted the stream on the primary");
                lost = owner.Owned[0].FencingToken;
                await owner.CrashAsync();
                await group.KillAsync(primary);
            }
            finally
            {
                await RedisSentinelGroup.SignalAsync(replica, "CONT");
            }
        }

        await group.WaitPromotedAsync(replica, TimeSpan.FromSeconds(60));

        // The fault took effect: the replica was promoted with less data than the primary had before the grant.
        var promoted = await LocalTopology.CliAsync(replica.Port, "INFO", "replication");
        var replicatedUpTo = Offset(promoted, "second_repl_offset") - 1;
        await TestContext.Out.WriteLineAsync($"Grant of token {lost} lost: the primary was at offset {primaryOffsetBeforeGrant} before it, the replica was promoted at {replicatedUpTo}.");
        Assert.That(replicatedUpTo, Is.LessThan(primaryOffsetBeforeGrant), "the promoted replica never received the grant");

        // The old primary comes back, empty, as the new primary's replica (a client that lists the sentinels' replicas
        // would otherwise try the dead node for its subscriptions).
        await group.RestartAsReplicaAsync(primary, replica);
        await group.WaitAgreedAsync(replica, TimeSpan.FromSeconds(60));
        await using var reconnected = await group.ConnectAsync();
        await using var next = await TestConsumer.StartAsync(reconnected, TestOptions.For(service, consumerId: "next"));
        await Eventually.AssertAsync(() => next.Owned.Count == 1, TimeSpan.FromSeconds(30), "the stream is granted again by the promoted replica");
        Assert.That(next.Owned[0].FencingToken, Is.GreaterThan(lost),
            $"the next grant of '{Stream}' carries a larger token than the grant the promotion lost ({lost})");
    }

    [Test]
    public async Task A_streams_next_token_is_larger_after_redis_restarts_without_its_data()
    {
        var service = TestOptions.NewServiceName();
        await using var server = await RedisServer.StartAsync("--save", "", "--appendonly", "no");
        long before;
        await using (var redis = await server.ConnectAsync())
        {
            await new StreamPublisher(redis, TestOptions.For(service)).AddStreamAsync(Stream);
            await using var owner = await TestConsumer.StartAsync(redis, TestOptions.For(service, consumerId: "owner"));
            await Eventually.AssertAsync(() => owner.Owned.Count == 1, TimeSpan.FromSeconds(30), "the owner is granted the stream");
            before = owner.Owned[0].FencingToken;
            await owner.CrashAsync();
        }

        await server.StopProcessAsync();
        await using var restarted = await server.RestartAsync("--save", "", "--appendonly", "no");
        await using var again = await restarted.ConnectAsync();

        // The fault took effect: the restarted server has none of the service's keys (the announcement is gone too, so
        // the producer announces the stream again).
        Assert.That(await again.GetServer(restarted.EndPoint).DatabaseSizeAsync(), Is.Zero, "the restart lost every key");
        await new StreamPublisher(again, TestOptions.For(service)).AddStreamAsync(Stream);
        await using var next = await TestConsumer.StartAsync(again, TestOptions.For(service, consumerId: "next"));
        await Eventually.AssertAsync(() => next.Owned.Count == 1, TimeSpan.FromSeconds(30), "the stream is granted again after the restart");
        Assert.That(next.Owned[0].FencingToken, Is.GreaterThan(before),
            $"the next grant of '{Stream}' carries a larger token than the one granted before the restart ({before})");
    }

    private static long Offset(string info, string field) =>
        long.Parse(LocalTopology.Field(info, field) ?? throw new InvalidOperationException($"INFO has no {field}: {info}"), CultureInfo.InvariantCulture);
}
