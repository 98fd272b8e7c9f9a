using System.Diagnostics;
using System.Globalization;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Topologies;

/// <summary>
/// The core behaviour and its faults on a Redis Cluster of 3 primaries + 3 replicas, started once for this fixture and
/// reached the way a user would (every node's endpoint). The service's control keys share one hash slot; its data
/// streams spread over the primaries. Each fault proves it happened (the slot moved, the replica was promoted) and ends
/// with the cluster healthy again for the next test.
/// </summary>
[Parallelizable(ParallelScope.Self)]
public sealed class ClusterTests
{
    private RedisCluster? _cluster;
    private ConnectionMultiplexer? _redis;

    private RedisCluster Cluster => _cluster ?? throw new InvalidOperationException("The cluster has not started.");

    private ConnectionMultiplexer Redis => _redis ?? throw new InvalidOperationException("Not connected.");

    [OneTimeSetUp]
    public async Task StartClusterAsync()
    {
        var clock = Stopwatch.StartNew();
        _cluster = await RedisCluster.StartAsync();
        await TestContext.Progress.WriteLineAsync($"Redis Cluster (3 primaries + 3 replicas) ready in {clock.ElapsedMilliseconds} ms: {string.Join(", ", Cluster.Nodes)}");
    }

    [OneTimeTearDown]
    public async Task StopClusterAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    [SetUp]
    public async Task ConnectAsync() => _redis = await Cluster.ConnectAsync();

    [TearDown]
    public async Task DisconnectAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    [Test]
    public async Task Streams_are_granted_checkpointed_and_completed_once_with_data_on_every_primary()
    {
        var workload = await TopologyScenarios.AssignCheckpointCompleteAsync(Redis);

        // The data streams hash to slots all over the cluster, so the handlers read from every primary.
        var primaries = new HashSet<int>();
        foreach (var name in workload.Published)
        {
            primaries.Add((await Cluster.PrimaryOfAsync(HashSlot.Of(name))).Port);
        }

        Assert.That(primaries, Has.Count.EqualTo(3), "the data streams live on all three primaries");
    }

    [Test]
    public async Task A_crashed_consumers_streams_fail_over_and_resume_from_their_checkpoints() =>
        await TopologyScenarios.CrashFailsOverWithCheckpointsAsync(Redis);

    [Test]
    public async Task The_services_slot_migrated_while_streams_flow_loses_no_stream_and_completes_each_once()
    {
        var moved = 0;
        RedisCluster.Node? source = null;
        RedisCluster.Node? target = null;
        var slot = -1;
        await TopologyScenarios.FlowThroughFaultAsync(Redis, losesWrites: false, async workload =>
        {
            slot = HashSlot.Of(workload.Keys.Lbs);
            source = await Cluster.PrimaryOfAsync(slot);
            var topology = await Cluster.TopologyAsync();
            target = Cluster.NodeOf(topology.First(n => n.IsPrimary && n.Port != source.Port));
            // Small batches, and traffic between them: scripts run while some of the service's keys are on each side.
            moved = await Cluster.MigrateSlotAsync(slot, target, batchSize: 5, async () =>
            {
                var progress = workload.Checkpoints;
                await Eventually.TrueAsync(() => workload.Checkpoints > progress, TimeSpan.FromSeconds(2));
            });

            // Every script declares every key it touches in KEYS (issue 8): a key reached through an ARGV prefix is
            // refused by a node whose slot is half moved ("non local key") after the script's earlier writes, which
            // leaves, for instance, an entry delivered without a lease until the reconcile pass finds it.
            var undeclared = workload.Logs.Records.Where(r => (r.Exception?.Message ?? r.Message).Contains("non local key", StringComparison.Ordinal)).ToList();
            Assert.That(undeclared, Is.Empty, "no script touched a key it did not declare: " + string.Join(" | ", undeclared.Take(3).Select(r => r.Exception?.Message ?? r.Message)));
        });

        // The fault took effect: the slot is served by the target, and its keys are there.
        Assert.That(moved, Is.GreaterThan(3), "the service's keys were migrated");
        Assert.That((await Cluster.PrimaryOfAsync(slot)).Port, Is.EqualTo(target!.Port), $"slot {slot} moved from {source} to {target}");
        var slotText = slot.ToString(CultureInfo.InvariantCulture);
        var slots = await LocalTopology.CliAsync(source!.Port, "CLUSTER", "SLOTS");
        await TestContext.Out.WriteLineAsync($"Slot {slot}: {moved} keys moved from {source} to {target}; keys in slot on the target now: {await LocalTopology.CliAsync(target.Port, "CLUSTER", "COUNTKEYSINSLOT", slotText)}");
        Assert.That(await LocalTopology.CliAsync(source.Port, "CLUSTER", "COUNTKEYSINSLOT", slotText), Is.EqualTo("0"), "the source kept none of the slot's keys");
        Assert.That(slots, Does.Contain(target.Port.ToString(CultureInfo.InvariantCulture)));
    }

    /// <summary>
    /// <see cref="RecoverableStreamOptions.Partitions"/> = 3 across a failover: the three partitions live on the three
    /// primaries (docs/PARTITIONS.md); the primary of partition 0 is killed and its replica promoted while streams of
    /// every partition flow. Every stream completes once, no overlap, and the other partitions keep being served.
    /// </summary>
    [Test]
    public async Task With_three_partitions_a_killed_primary_fails_over_and_no_stream_of_any_partition_is_lost_or_completed_twice()
    {
        RedisCluster.Node? killed = null;
        try
        {
            var workload = await TopologyScenarios.FlowThroughFaultAsync(Redis, losesWrites: true, async workload =>
            {
                var slot = HashSlot.Of(workload.Layout[0].Lbs);
                var topology = await Cluster.TopologyAsync();
                var primary = topology.Single(n => n.IsPrimary && n.Serves(slot));
                killed = Cluster.NodeOf(primary);
                var promoted = Cluster.NodeOf(topology.Single(n => n.PrimaryId == primary.Id));
                await Cluster.KillAsync(killed);
                await Eventually.AssertAsync(async () =>
                {
                    var info = await LocalTopology.TryCliAsync(promoted.Port, "CLUSTER", "INFO");
                    var nodes = await LocalTopology.TryCliAsync(promoted.Port, "CLUSTER", "NODES");
                    return LocalTopology.Field(info, "cluster_state") == "ok"
                        && nodes is not null && ClusterNodeInfo.Parse(nodes).Any(n => n.Port == promoted.Port && n.IsPrimary && n.Serves(slot));
                }, TimeSpan.FromSeconds(30), $"replica {promoted} is promoted to serve partition 0's slot {slot}");
            }, partitions: 3);

            var slots = workload.Layout.Partitions.Select(k => HashSlot.Of(k.Lbs)).ToArray();
            Assert.That(slots.Distinct().Count(), Is.EqualTo(3), "three partitions on three slots");
            Assert.That(workload.Published.Select(workload.Layout.PartitionOf).Distinct().Count(), Is.EqualTo(3), "streams flowed through every partition");
        }
        finally
        {
            if (killed is not null && killed.Process is null)
            {
                await Cluster.RestartAsync(killed);
                await Cluster.WaitHealthyAsync(TimeSpan.FromSeconds(60));
            }
        }
    }

    [Test]
    public async Task The_services_primary_killed_its_replica_is_promoted_and_no_stream_is_lost_or_completed_twice()
    {
        RedisCluster.Node? killed = null;
        RedisCluster.Node? promoted = null;
        try
        {
            await TopologyScenarios.FlowThroughFaultAsync(Redis, losesWrites: true, async workload =>
            {
                var slot = HashSlot.Of(workload.Keys.Lbs);
                var topology = await Cluster.TopologyAsync();
                var primary = topology.Single(n => n.IsPrimary && n.Serves(slot));
                killed = Cluster.NodeOf(primary);
                promoted = Cluster.NodeOf(topology.Single(n => n.PrimaryId == primary.Id));
                await Cluster.KillAsync(killed);

                // Automatic failover: the replica sees its primary fail and is elected within a few node timeouts.
                await Eventually.AssertAsync(async () =>
                {
                    var info = await LocalTopology.TryCliAsync(promoted.Port, "CLUSTER", "INFO");
                    var nodes = await LocalTopology.TryCliAsync(promoted.Port, "CLUSTER", "NODES");
                    return LocalTopology.Field(info, "cluster_state") == "ok"
                        && nodes is not null && ClusterNodeInfo.Parse(nodes).Any(n => n.Port == promoted.Port && n.IsPrimary && n.Serves(slot));
                }, TimeSpan.FromSeconds(30), $"replica {promoted} is promoted to serve slot {slot} and the cluster is ok");
            });

            // The fault took effect: the replica is a primary now (its own INFO says so).
            Assert.That(LocalTopology.Field(await LocalTopology.CliAsync(promoted!.Port, "INFO", "replication"), "role"), Is.EqualTo("master"));
        }
        finally
        {
            if (killed is not null && killed.Process is null)
            {
                // The old primary comes back as the new primary's replica: the next test starts with a healthy cluster.
                await Cluster.RestartAsync(killed);
                await Cluster.WaitHealthyAsync(TimeSpan.FromSeconds(60));
            }
        }

        Assert.That(LocalTopology.Field(await LocalTopology.CliAsync(killed!.Port, "INFO", "replication"), "role"), Is.EqualTo("slave"), "the killed primary rejoined as a replica");
    }
}
