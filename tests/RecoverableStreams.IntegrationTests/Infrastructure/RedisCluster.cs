using System.Diagnostics;
using System.Globalization;
using RecoverableStreams.LocalRedis;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Infrastructure;

/// <summary>
/// A local Redis Cluster: 3 primaries + 3 replicas (<c>redis-server --cluster-enabled yes</c>, joined with
/// <c>redis-cli --cluster create --cluster-replicas 1</c>) on free loopback ports, each node in its own folder with its
/// own <c>nodes.conf</c>, so a node killed by its PID can be started again on the same ports and rejoin. Node timeout
/// 1 s, so a killed primary's replica is promoted within a few seconds. Started once per fixture: 9-13 s on the shared
/// 2-core machine (<c>redis-cli --cluster create</c>, then the wait for cluster_state:ok on every node).
/// </summary>
internal sealed class RedisCluster : IAsyncDisposable
{
    private readonly string _serverPath;
    private readonly string _directory;
    private IDisposable? _turn;

    private RedisCluster(string serverPath, string directory, IReadOnlyList<Node> nodes)
    {
        _serverPath = serverPath;
        _directory = directory;
        Nodes = nodes;
    }

    public IReadOnlyList<Node> Nodes { get; }

    /// <summary>Every node's endpoint, as a user would configure StackExchange.Redis for a cluster.</summary>
    public string ConnectionString =>
        string.Join(",", Nodes.Select(n => "127.0.0.1:" + n.Port.ToString(CultureInfo.InvariantCulture)))
        + ",allowAdmin=true,abortConnect=false,connectRetry=5,syncTimeout=10000,asyncTimeout=10000";

    public Task<ConnectionMultiplexer> ConnectAsync() => ConnectionMultiplexer.ConnectAsync(ConnectionString);

    public static async Task<RedisCluster> StartAsync()
    {
        var (server, _) = LocalTopology.Require("Redis Cluster");
        var directory = LocalTopology.NewDirectory("redis-cluster");
        // Ports held for the test process' life (a killed node restarts on its port): see TestPorts.
        var nodes = Enumerable.Range(0, 6).Select(i => new Node(Path.Combine(directory, "node-" + i), TestPorts.Reserve(busPort: true))).ToList();
        var cluster = new RedisCluster(server, directory, nodes) { _turn = await TopologyGate.EnterAsync() };
        try
        {
            await Task.WhenAll(nodes.Select(cluster.StartNodeAsync));
            string[] create = ["--cluster", "create", .. nodes.Select(n => "127.0.0.1:" + n.Port.ToString(CultureInfo.InvariantCulture)), "--cluster-replicas", "1", "--cluster-yes"];
            await LocalTopology.CliAsync(nodes[0].Port, create);
            await cluster.WaitHealthyAsync(TimeSpan.FromSeconds(60));
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Kills the node (SIGKILL, by its PID) and waits until it is gone.</summary>
    public async Task KillAsync(Node node)
    {
        if (node.Process is { } process)
        {
            await process.DisposeAsync();
            node.Process = null;
        }
    }

    /// <summary>Starts a killed node again on its ports with its <c>nodes.conf</c>: it rejoins (a former primary as a replica).</summary>
    public Task RestartAsync(Node node) => StartNodeAsync(node);

    /// <summary>
    /// Waits until every running node says <c>cluster_state:ok</c> with all slots served, knows every node, flags none
    /// as failed, and every replica's link to its primary is up.
    /// </summary>
    public async Task WaitHealthyAsync(TimeSpan timeout)
    {
        string last = "";
        var healthy = await Eventually.TrueAsync(async () =>
        {
            foreach (var node in Nodes.Where(n => n.Process is not null))
            {
                var info = await LocalTopology.TryCliAsync(node.Port, "CLUSTER", "INFO");
                var topology = await LocalTopology.TryCliAsync(node.Port, "CLUSTER", "NODES");
                var replication = await LocalTopology.TryCliAsync(node.Port, "INFO", "replication");
                last = $"{node.Port}: state {LocalTopology.Field(info, "cluster_state")}, slots ok {LocalTopology.Field(info, "cluster_slots_ok")}, known {LocalTopology.Field(info, "cluster_known_nodes")}, role {LocalTopology.Field(replication, "role")}, link {LocalTopology.Field(replication, "master_link_status")}";
                if (LocalTopology.Field(info, "cluster_state") != "ok"
                    || LocalTopology.Field(info, "cluster_slots_ok") != "16384"
                    || LocalTopology.Field(info, "cluster_known_nodes") != Nodes.Count.ToString(CultureInfo.InvariantCulture)
                    || topology is null
                    || ClusterNodeInfo.Parse(topology).Any(n => n.Failed)
                    || ClusterNodeInfo.Parse(topology).Count(n => n.IsPrimary && n.Slots.Count > 0) != Nodes.Count / 2
                    || (LocalTopology.Field(replication, "role") == "slave" && LocalTopology.Field(replication, "master_link_status") != "up"))
                {
                    return false;
                }
            }

            return true;
        }, timeout);
        Assert.That(healthy, Is.True, $"Within {timeout.TotalSeconds:0} s the cluster should be healthy; last seen {last}");
    }

    /// <summary>The cluster's view of its nodes (CLUSTER NODES), read from a running node.</summary>
    public async Task<IReadOnlyList<ClusterNodeInfo>> TopologyAsync()
    {
        foreach (var node in Nodes.Where(n => n.Process is not null))
        {
            if (await LocalTopology.TryCliAsync(node.Port, "CLUSTER", "NODES") is { } text)
            {
                return ClusterNodeInfo.Parse(text);
            }
        }

        throw new InvalidOperationException("No cluster node answers.");
    }

    /// <summary>The node that serves <paramref name="slot"/> now (as its own CLUSTER NODES says).</summary>
    public async Task<Node> PrimaryOfAsync(int slot)
    {
        var primary = (await TopologyAsync()).Single(n => n.IsPrimary && !n.Failed && n.Serves(slot));
        return Nodes.Single(n => n.Port == primary.Port);
    }

    public Node NodeOf(ClusterNodeInfo node) => Nodes.Single(n => n.Port == node.Port);

    /// <summary>
    /// Moves <paramref name="slot"/> to <paramref name="target"/> the way <c>redis-cli --cluster reshard</c> does:
    /// SETSLOT IMPORTING on the target, MIGRATING on the source, MIGRATE of its keys in batches of
    /// <paramref name="batchSize"/> (calling <paramref name="betweenBatches"/> after each, so traffic runs against a
    /// half-moved slot), then SETSLOT NODE on every primary. Returns how many keys moved.
    /// </summary>
    public async Task<int> MigrateSlotAsync(int slot, Node target, int batchSize, Func<Task> betweenBatches)
    {
        var topology = await TopologyAsync();
        var source = NodeOf(topology.Single(n => n.IsPrimary && n.Serves(slot)));
        var sourceId = topology.Single(n => n.Port == source.Port).Id;
        var targetId = topology.Single(n => n.Port == target.Port).Id;
        var slotText = slot.ToString(CultureInfo.InvariantCulture);
        await LocalTopology.CliAsync(target.Port, "CLUSTER", "SETSLOT", slotText, "IMPORTING", sourceId);
        await LocalTopology.CliAsync(source.Port, "CLUSTER", "SETSLOT", slotText, "MIGRATING", targetId);
        var moved = 0;
        while (true)
        {
            var keys = (await LocalTopology.CliAsync(source.Port, "CLUSTER", "GETKEYSINSLOT", slotText, batchSize.ToString(CultureInfo.InvariantCulture)))
                .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (keys.Length == 0)
            {
                break;
            }

            await LocalTopology.CliAsync(source.Port, ["MIGRATE", "127.0.0.1", target.Port.ToString(CultureInfo.InvariantCulture), "", "0", "10000", "KEYS", .. keys]);
            moved += keys.Length;
            await betweenBatches();
        }

        // The target first, then the source, then the others: the order redis-cli uses, so no node is left pointing at
        // a source that no longer has the keys.
        await LocalTopology.CliAsync(target.Port, "CLUSTER", "SETSLOT", slotText, "NODE", targetId);
        await LocalTopology.CliAsync(source.Port, "CLUSTER", "SETSLOT", slotText, "NODE", targetId);
        foreach (var other in topology.Where(n => n.IsPrimary && !n.Failed && n.Port != source.Port && n.Port != target.Port))
        {
            await LocalTopology.CliAsync(other.Port, "CLUSTER", "SETSLOT", slotText, "NODE", targetId);
        }

        return moved;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes)
        {
            await KillAsync(node);
        }

        LocalTopology.DeleteDirectory(_directory);
        _turn?.Dispose();
    }

    private async Task StartNodeAsync(Node node)
    {
        Directory.CreateDirectory(node.Directory);
        node.Process = await LocalRedisProcess.StartAsync(
            _serverPath,
            node.Directory,
            _ =>
            [
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-port", node.BusPort.ToString(CultureInfo.InvariantCulture),
                "--cluster-node-timeout", "1000",
                // A replica may always take over (however long its link was down) and never wanders to another primary:
                // the tests decide the topology.
                "--cluster-replica-validity-factor", "0", "--cluster-allow-replica-migration", "no",
            ],
            port: node.Port);
    }

    /// <summary>One node: its ports and folder are fixed; its process changes when it is restarted.</summary>
    public sealed class Node(string directory, int port)
    {
        public string Directory { get; } = directory;

        public int Port { get; } = port;

        /// <summary>The cluster bus port, chosen free (Redis' default, port + 10000, may be out of range or taken).</summary>
        /// <summary>Port + 10000, Redis' default: reserved with the port (<see cref="TestPorts"/>).</summary>
        public int BusPort => Port + 10000;

        public LocalRedisProcess? Process { get; internal set; }

        public int? ProcessId => Process?.ProcessId;

        public override string ToString() => $"127.0.0.1:{Port} (pid {ProcessId?.ToString(CultureInfo.InvariantCulture) ?? "none"})";
    }
}

/// <summary>One line of CLUSTER NODES: id, port, role, its primary and the slots it serves.</summary>
internal sealed record ClusterNodeInfo(string Id, int Port, bool IsPrimary, string? PrimaryId, bool Failed, IReadOnlyList<(int From, int To)> Slots)
{
    public bool Serves(int slot) => Slots.Any(r => r.From <= slot && slot <= r.To);

    public static IReadOnlyList<ClusterNodeInfo> Parse(string text) => text
        .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(line =>
        {
            var parts = line.Split(' ');
            var address = parts[1].Split('@')[0];
            var port = int.Parse(address[(address.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
            var flags = parts[2].Split(',');
            var slots = parts.Skip(8)
                .Where(s => !s.StartsWith('['))
                .Select(s => s.Split('-'))
                .Select(r => (int.Parse(r[0], CultureInfo.InvariantCulture), int.Parse(r[^1], CultureInfo.InvariantCulture)))
                .ToList();
            return new ClusterNodeInfo(parts[0], port, flags.Contains("master"), parts[3] == "-" ? null : parts[3], flags.Contains("fail") || flags.Contains("fail?"), slots);
        })
        .ToList();
}
