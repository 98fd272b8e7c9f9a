using System.Diagnostics;
using System.Globalization;
using RecoverableStreams.LocalRedis;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Infrastructure;

/// <summary>
/// A local Sentinel group: a primary, one replica and three sentinels (<c>redis-server sentinel.conf --sentinel</c>,
/// quorum 2, down after 3 s) on free loopback ports, each process stopped by its own PID. The data nodes keep their
/// ports, so a killed one can be started again as a replica of whoever is primary now. Started once per fixture: about
/// 6 s on the shared 2-core machine, most of it the sentinels discovering each other and the replica.
/// </summary>
internal sealed class RedisSentinelGroup : IAsyncDisposable
{
    public const string ServiceName = "mymaster";

    private readonly string _serverPath;
    private readonly string _directory;
    private readonly List<LocalRedisProcess> _sentinels = [];

    private readonly bool _refuseWritesWithoutReplica;
    private IDisposable? _turn;

    private RedisSentinelGroup(string serverPath, string directory, bool refuseWritesWithoutReplica)
    {
        _refuseWritesWithoutReplica = refuseWritesWithoutReplica;
        _serverPath = serverPath;
        _directory = directory;
        // Ports held for the test process' life (a killed data node restarts on its port): see TestPorts.
        DataNodes = [new DataNode(Path.Combine(directory, "data-0"), TestPorts.Reserve()), new DataNode(Path.Combine(directory, "data-1"), TestPorts.Reserve())];
    }

    /// <summary>The two data nodes: the first starts as primary, the second as its replica.</summary>
    public IReadOnlyList<DataNode> DataNodes { get; }

    public IReadOnlyList<int> SentinelPorts => _sentinels.Select(s => s.Port).ToList();

    /// <summary>The sentinels' endpoints and the service name, as a user would configure StackExchange.Redis.</summary>
    public string ConnectionString =>
        string.Join(",", _sentinels.Select(s => "127.0.0.1:" + s.Port.ToString(CultureInfo.InvariantCulture)))
        + $",serviceName={ServiceName},allowAdmin=true,abortConnect=false,connectRetry=5,syncTimeout=10000,asyncTimeout=10000";

    /// <summary>A connection to the primary found through the sentinels; it follows a failover by itself.</summary>
    public Task<ConnectionMultiplexer> ConnectAsync() => ConnectionMultiplexer.ConnectAsync(ConnectionString);

    /// <param name="refuseWritesWithoutReplica">
    /// Data nodes run with <c>min-replicas-to-write 1</c> (max lag 3 s), as Redis recommends for Sentinel: a primary
    /// that has lost its replica refuses writes (NOREPLICAS) instead of accepting writes it will drop. Without it, a
    /// planned failover leaves the old primary taking writes for about 8 s (until the sentinels reconfigure it), and
    /// they vanish when it resyncs: measured, 10 of 45 stream summaries lost and 2 streams processed twice. The
    /// fencing-token tests turn it off: they need a primary that accepts writes its replica never sees.
    /// </param>
    public static async Task<RedisSentinelGroup> StartAsync(bool refuseWritesWithoutReplica = true)
    {
        var (server, _) = LocalTopology.Require("Redis Sentinel group");
        var group = new RedisSentinelGroup(server, LocalTopology.NewDirectory("redis-sentinel"), refuseWritesWithoutReplica) { _turn = await TopologyGate.EnterAsync() };
        try
        {
            var primary = group.DataNodes[0];
            await group.StartDataNodeAsync(primary, replicaOf: null);
            await group.StartDataNodeAsync(group.DataNodes[1], replicaOf: primary);
            for (var i = 0; i < 3; i++)
            {
                var directory = Path.Combine(group._directory, "sentinel-" + i);
                Directory.CreateDirectory(directory);
                var config = Path.Combine(directory, "sentinel.conf");
                await File.WriteAllTextAsync(config, string.Join('\n',
                    $"sentinel monitor {ServiceName} 127.0.0.1 {primary.Port} 2",
                    // 3 s, not 1 s: on the shared 2-core machine a primary that answered no PING for 1 s under the rest
                    // of the suite's load was failed over by accident, back to the node a test had just killed and
                    // restarted, and the test then waited in vain for its own primary (two clean-clone CI runs).
                    $"sentinel down-after-milliseconds {ServiceName} 3000",
                    // Kept, so that a failure can say which failovers the sentinels made (see FailoverHistory).
                    $"logfile \"{Path.Combine(directory, "sentinel.log")}\"",
                    $"sentinel failover-timeout {ServiceName} 6000",
                    $"sentinel parallel-syncs {ServiceName} 1",
                    ""));
                group._sentinels.Add(await LocalRedisProcess.StartAsync(server, directory, _ => ["--sentinel"], configFile: config));
            }

            await group.WaitAgreedAsync(primary, TimeSpan.FromSeconds(60));
            return group;
        }
        catch
        {
            await group.DisposeAsync();
            throw;
        }
    }

    /// <summary>The primary as the sentinels name it (the first that answers), or null when none answers.</summary>
    public async Task<DataNode?> PrimaryAsync()
    {
        foreach (var port in SentinelPorts)
        {
            var reply = await LocalTopology.TryCliAsync(port, "SENTINEL", "get-master-addr-by-name", ServiceName);
            var lines = reply?.Split('\n', StringSplitOptions.TrimEntries);
            if (lines is { Length: 2 } && int.TryParse(lines[1], CultureInfo.InvariantCulture, out var primaryPort))
            {
                return DataNodes.SingleOrDefault(n => n.Port == primaryPort);
            }
        }

        return null;
    }

    /// <summary>The data node that is not <paramref name="node"/>.</summary>
    public DataNode Other(DataNode node) => DataNodes.Single(n => n != node);

    /// <summary>
    /// Waits until every sentinel names <paramref name="primary"/>, sees it up and sees the other two sentinels, the
    /// primary says role master, and the other data node (when running) replicates from it with its link up and is
    /// known to the sentinels as a healthy replica.
    /// </summary>
    public async Task WaitAgreedAsync(DataNode primary, TimeSpan timeout)
    {
        var last = "";
        var agreed = await Eventually.TrueAsync(async () =>
        {
            var replica = Other(primary);
            foreach (var port in SentinelPorts)
            {
                var address = await LocalTopology.TryCliAsync(port, "SENTINEL", "get-master-addr-by-name", ServiceName);
                var master = Pairs(await LocalTopology.TryCliAsync(port, "SENTINEL", "master", ServiceName));
                var replicas = Pairs(await LocalTopology.TryCliAsync(port, "SENTINEL", "replicas", ServiceName));
                last = $"sentinel {port}: master {address?.ReplaceLineEndings(":")}, flags {master.GetValueOrDefault("flags")}, other sentinels {master.GetValueOrDefault("num-other-sentinels")}, replica flags {replicas.GetValueOrDefault("flags")}";
                if (address is null || !address.EndsWith("\n" + primary.Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
                    || master.GetValueOrDefault("flags") != "master"
                    || master.GetValueOrDefault("num-other-sentinels") != "2"
                    || (replica.Process is not null && !ReplicaIsHealthy(await LocalTopology.TryCliAsync(port, "SENTINEL", "replicas", ServiceName), replica.Port)))
                {
                    return false;
                }
            }

            var role = LocalTopology.Field(await LocalTopology.TryCliAsync(primary.Port, "INFO", "replication"), "role");
            var link = replica.Process is null ? "up" : LocalTopology.Field(await LocalTopology.TryCliAsync(replica.Port, "INFO", "replication"), "master_link_status");
            var replicaMaster = replica.Process is null ? primary.Port.ToString(CultureInfo.InvariantCulture) : LocalTopology.Field(await LocalTopology.TryCliAsync(replica.Port, "INFO", "replication"), "master_port");
            last += $"; primary {primary.Port} role {role}; replica {replica.Port} link {link} to {replicaMaster}";
            return role == "master" && link == "up" && replicaMaster == primary.Port.ToString(CultureInfo.InvariantCulture);
        }, timeout);
        Assert.That(agreed, Is.True, $"Within {timeout.TotalSeconds:0} s the sentinels should agree on primary {primary.Port}; last seen {last}; {FailoverHistory()}");
    }

    /// <summary>
    /// What each sentinel logged about the primary going down and moving (<c>+sdown master</c>, <c>+odown</c>,
    /// <c>+switch-master</c>), for failure messages: it tells a failover a test made from one the group made by itself.
    /// </summary>
    public string FailoverHistory()
    {
        var parts = new List<string>();
        for (var i = 0; i < _sentinels.Count; i++)
        {
            var log = Path.Combine(_directory, "sentinel-" + i.ToString(CultureInfo.InvariantCulture), "sentinel.log");
            var lines = File.Exists(log)
                ? File.ReadLines(log).Where(l => l.Contains("+switch-master", StringComparison.Ordinal) || l.Contains("+odown", StringComparison.Ordinal) || l.Contains("+sdown master", StringComparison.Ordinal)).TakeLast(6).ToList()
                : [];
            parts.Add($"sentinel {SentinelPorts[i]} logged: {(lines.Count == 0 ? "nothing about the primary" : string.Join(" | ", lines))}");
        }

        return string.Join("; ", parts);
    }

    /// <summary>Waits until every sentinel names <paramref name="primary"/> and it says role master (its peer may be down).</summary>
    public async Task WaitPromotedAsync(DataNode primary, TimeSpan timeout)
    {
        var last = "";
        var promoted = await Eventually.TrueAsync(async () =>
        {
            var names = new List<string>();
            foreach (var port in SentinelPorts)
            {
                names.Add((await LocalTopology.TryCliAsync(port, "SENTINEL", "get-master-addr-by-name", ServiceName))?.ReplaceLineEndings(":") ?? "none");
            }

            var role = LocalTopology.Field(await LocalTopology.TryCliAsync(primary.Port, "INFO", "replication"), "role");
            last = $"sentinels name {string.Join(", ", names)}; {primary.Port} says role {role}";
            return role == "master" && names.All(n => n.EndsWith(":" + primary.Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal));
        }, timeout);
        Assert.That(promoted, Is.True, $"Within {timeout.TotalSeconds:0} s {primary.Port} should be promoted; last seen {last}; {FailoverHistory()}");
    }

    /// <summary><c>SENTINEL FAILOVER</c> (planned): asks one sentinel to promote the replica.</summary>
    public Task FailoverAsync() => LocalTopology.CliAsync(SentinelPorts[0], "SENTINEL", "FAILOVER", ServiceName);

    /// <summary>Kills the data node (SIGKILL, by its PID) and waits until it is gone.</summary>
    public async Task KillAsync(DataNode node)
    {
        if (node.Process is { } process)
        {
            await process.DisposeAsync();
            node.Process = null;
        }
    }

    /// <summary>Starts a killed data node again on its port, without data, as a replica of <paramref name="primary"/>.</summary>
    public async Task RestartAsReplicaAsync(DataNode node, DataNode primary) => await StartDataNodeAsync(node, primary);

    /// <summary>Sends a signal (<c>STOP</c>, <c>CONT</c>) to a data node by its PID.</summary>
    public static async Task SignalAsync(DataNode node, string signal)
    {
        var pid = node.ProcessId ?? throw new InvalidOperationException($"{node} is not running.");
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, pid.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })
            ?? throw new InvalidOperationException("kill did not start.");
        await kill.WaitForExitAsync();
        Assert.That(kill.ExitCode, Is.Zero, $"kill -{signal} {pid}");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var sentinel in _sentinels)
        {
            await sentinel.DisposeAsync();
        }

        foreach (var node in DataNodes)
        {
            // A node left stopped (SIGSTOP) by a failed test still dies of SIGKILL.
            await KillAsync(node);
        }

        LocalTopology.DeleteDirectory(_directory);
        _turn?.Dispose();
    }

    private async Task StartDataNodeAsync(DataNode node, DataNode? replicaOf)
    {
        Directory.CreateDirectory(node.Directory);
        node.Process = await LocalRedisProcess.StartAsync(
            _serverPath,
            node.Directory,
            _ =>
            [
                .. replicaOf is null ? [] : (string[])["--replicaof", "127.0.0.1", replicaOf.Port.ToString(CultureInfo.InvariantCulture)],
                .. _refuseWritesWithoutReplica ? (string[])["--min-replicas-to-write", "1", "--min-replicas-max-lag", "3"] : [],
            ],
            port: node.Port);
    }

    /// <summary>A flat key/value reply (one item per line, as redis-cli prints it off a terminal) as a dictionary; first wins.</summary>
    private static Dictionary<string, string> Pairs(string? reply)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var lines = reply?.Split('\n', StringSplitOptions.TrimEntries) ?? [];
        for (var i = 0; i + 1 < lines.Length; i += 2)
        {
            result.TryAdd(lines[i], lines[i + 1]);
        }

        return result;
    }

    /// <summary>True when SENTINEL REPLICAS lists the replica on <paramref name="port"/> with flags exactly "slave".</summary>
    private static bool ReplicaIsHealthy(string? reply, int port)
    {
        var lines = reply?.Split('\n', StringSplitOptions.TrimEntries) ?? [];
        // Each replica is a run of key/value lines starting with "name", "ip:port".
        for (var i = 0; i + 1 < lines.Length; i++)
        {
            if (lines[i] == "name" && lines[i + 1] == "127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture))
            {
                for (var j = i + 2; j + 1 < lines.Length && lines[j] != "name"; j += 2)
                {
                    if (lines[j] == "flags")
                    {
                        return lines[j + 1] == "slave";
                    }
                }
            }
        }

        return false;
    }

    /// <summary>A data node: its port and folder are fixed; its process changes when it is restarted.</summary>
    public sealed class DataNode(string directory, int port)
    {
        public string Directory { get; } = directory;

        public int Port { get; } = port;

        public LocalRedisProcess? Process { get; internal set; }

        public int? ProcessId => Process?.ProcessId;

        public override string ToString() => $"127.0.0.1:{Port} (pid {ProcessId?.ToString(CultureInfo.InvariantCulture) ?? "none"})";
    }
}
