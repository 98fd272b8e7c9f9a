using System.Diagnostics;
using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Topologies;

/// <summary>
/// The core behaviour and its faults on a Sentinel group (primary, replica, 3 sentinels), started once for this
/// fixture and reached the way a user would: the sentinels' endpoints and <c>serviceName=mymaster</c>. Each failover
/// proves it happened (the roles swapped, as the nodes and the sentinels say) and ends with both nodes replicating
/// again for the next test. The data nodes run with <c>min-replicas-to-write 1</c>, the configuration Redis recommends
/// for Sentinel (see <see cref="RedisSentinelGroup.StartAsync"/> for what goes wrong without it).
/// </summary>
[Parallelizable(ParallelScope.Self)]
public sealed class SentinelTests
{
    private RedisSentinelGroup? _group;
    private ConnectionMultiplexer? _redis;

    private RedisSentinelGroup Group => _group ?? throw new InvalidOperationException("The Sentinel group has not started.");

    private ConnectionMultiplexer Redis => _redis ?? throw new InvalidOperationException("Not connected.");

    [OneTimeSetUp]
    public async Task StartGroupAsync()
    {
        var clock = Stopwatch.StartNew();
        _group = await RedisSentinelGroup.StartAsync();
        await TestContext.Progress.WriteLineAsync($"Sentinel group ready in {clock.ElapsedMilliseconds} ms: data {string.Join(", ", Group.DataNodes)}, sentinels {string.Join(", ", Group.SentinelPorts)}");
    }

    [OneTimeTearDown]
    public async Task StopGroupAsync()
    {
        if (_group is not null)
        {
            await _group.DisposeAsync();
        }
    }

    [SetUp]
    public async Task ConnectAsync() => _redis = await Group.ConnectAsync();

    [TearDown]
    public async Task DisconnectAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    [Test]
    public async Task Streams_are_granted_checkpointed_and_completed_once_through_the_sentinels()
    {
        await TopologyScenarios.AssignCheckpointCompleteAsync(Redis);

        // The connection went to the primary the sentinels name, and the writes reached the replica.
        var primary = await Group.PrimaryAsync();
        Assert.That(primary, Is.Not.Null);
        var replication = await LocalTopology.CliAsync(Group.Other(primary!).Port, "INFO", "replication");
        Assert.That(LocalTopology.Field(replication, "role"), Is.EqualTo("slave"));
        Assert.That(long.Parse(LocalTopology.Field(replication, "slave_repl_offset")!, System.Globalization.CultureInfo.InvariantCulture), Is.GreaterThan(0));
    }

    [Test]
    public async Task A_crashed_consumers_streams_fail_over_and_resume_from_their_checkpoints() =>
        await TopologyScenarios.CrashFailsOverWithCheckpointsAsync(Redis);

    [Test]
    public async Task A_completion_no_replica_acknowledged_is_not_reported_done_until_one_does_and_completes_the_stream_once()
    {
        // Redis replicates after it replies: a completion the primary took but its replica never received is lost in a
        // failover, and the stream is processed again. So "completed" must mean "a replica has it".
        using var logs = new LogCapture();
        var options = TestOptions.For(TestOptions.NewServiceName(), "solo", lease: TimeSpan.FromSeconds(10));
        await using var consumer = await TestConsumer.StartAsync(Redis, options, logs.Factory);
        await new StreamPublisher(Redis, options).AddStreamAsync("data:1");
        await Eventually.AssertAsync(() => consumer.Owned.Count == 1, TimeSpan.FromSeconds(30), "the stream is owned");
        var lease = consumer.Owned[0];
        var primary = await Group.PrimaryAsync() ?? throw new InvalidOperationException("No sentinel names a primary.");
        var replica = Group.Other(primary);
        var keys = RecoverableStreams.Keys.PartitionLayout.For(options).Partitions[0];

        await RedisSentinelGroup.SignalAsync(replica, "STOP");
        Task completing;
        bool returnedWhileStopped;
        long entriesOnPrimary;
        string? offsets;
        try
        {
            completing = lease.CompleteAsync();
            // The fault took effect: the primary took the completion (its entry is gone there) while the replica,
            // stopped, acknowledged none of it (its offset, as the primary reports it, stays behind the primary's).
            await Eventually.AssertAsync(() => completing.IsCompleted || logs.Records.Any(r => r.EventId.Name == "CompletionUnacknowledged"), TimeSpan.FromSeconds(30),
                "CompleteAsync returned, or said that no replica acknowledged the completion");
            returnedWhileStopped = completing.IsCompleted;
            entriesOnPrimary = await Redis.GetDatabase().StreamLengthAsync(keys.Lbs);
            var replication = await LocalTopology.CliAsync(primary.Port, "INFO", "replication");
            offsets = $"primary offset {LocalTopology.Field(replication, "master_repl_offset")}, replica {LocalTopology.Field(replication, "slave0")}";
        }
        finally
        {
            await RedisSentinelGroup.SignalAsync(replica, "CONT");
        }

        await TestContext.Out.WriteLineAsync($"while the replica was stopped: {offsets}");
        Assert.Multiple(() =>
        {
            Assert.That(entriesOnPrimary, Is.Zero, "the primary took the completion (the fault hit between the write and its replication)");
            Assert.That(returnedWhileStopped, Is.False, "CompleteAsync did not return while no replica had the completion");
        });

        // With the replica back, the completion that took effect is acknowledged: done once, not "ownership lost".
        await completing.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Multiple(async () =>
        {
            Assert.That(lease.EndReason, Is.EqualTo(LeaseEndReason.Completed));
            Assert.That(await Redis.GetDatabase().StreamLengthAsync(keys.Lbs), Is.Zero, "completed: nothing left to grant");
            Assert.That(await LocalTopology.CliAsync(replica.Port, "XLEN", keys.Lbs.ToString()), Is.EqualTo("0"), "the replica has the completion");
        });
    }

    [Test]
    public async Task A_planned_sentinel_failover_while_streams_flow_loses_no_stream_and_completes_each_once()
    {
        RedisSentinelGroup.DataNode? before = null;
        await TopologyScenarios.FlowThroughFaultAsync(Redis, losesWrites: true, async _ =>
        {
            before = await Group.PrimaryAsync() ?? throw new InvalidOperationException("No sentinel names a primary.");
            await Group.FailoverAsync();
            // A planned failover turns the old primary into the new one's replica by itself.
            await Group.WaitAgreedAsync(Group.Other(before), TimeSpan.FromSeconds(60));
        });

        // The fault took effect: the roles swapped.
        Assert.That(LocalTopology.Field(await LocalTopology.CliAsync(Group.Other(before!).Port, "INFO", "replication"), "role"), Is.EqualTo("master"));
        Assert.That(LocalTopology.Field(await LocalTopology.CliAsync(before!.Port, "INFO", "replication"), "role"), Is.EqualTo("slave"));
    }

    [Test]
    public async Task The_primary_killed_the_replica_is_promoted_and_no_stream_is_lost_or_completed_twice()
    {
        RedisSentinelGroup.DataNode? killed = null;
        try
        {
            await TopologyScenarios.FlowThroughFaultAsync(Redis, losesWrites: true, async _ =>
            {
                killed = await Group.PrimaryAsync() ?? throw new InvalidOperationException("No sentinel names a primary.");
                var promoted = Group.Other(killed);
                await Group.KillAsync(killed);
                await Group.WaitPromotedAsync(promoted, TimeSpan.FromSeconds(60));
                // The fault took effect: the replica is the primary now, by its own word and the sentinels'.
                Assert.That(LocalTopology.Field(await LocalTopology.CliAsync(promoted.Port, "INFO", "replication"), "role"), Is.EqualTo("master"));

                // The old primary comes back, without its data (a lost pod), as the new primary's replica; until then
                // the new primary refuses writes (min-replicas-to-write 1).
                await Group.RestartAsReplicaAsync(killed, promoted);
                await Group.WaitAgreedAsync(promoted, TimeSpan.FromSeconds(60));
            });
        }
        finally
        {
            if (killed is not null && killed.Process is null)
            {
                // Back as the new primary's replica (without its data, as after a lost pod), for the next test.
                var primary = Group.Other(killed);
                await Group.RestartAsReplicaAsync(killed, primary);
                await Group.WaitAgreedAsync(primary, TimeSpan.FromSeconds(60));
            }
        }
    }
}
