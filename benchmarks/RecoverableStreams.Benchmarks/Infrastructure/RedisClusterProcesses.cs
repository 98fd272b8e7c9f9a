using System.Diagnostics;
using System.Globalization;
using RecoverableStreams.LocalRedis;
using StackExchange.Redis;

namespace RecoverableStreams.Benchmarks.Infrastructure;

/// <summary>
/// A local Redis Cluster of primaries only (<c>redis-server --cluster-enabled yes</c> on free loopback ports, joined with
/// <c>redis-cli --cluster create --cluster-replicas 0</c>), persistence off, each node in its own folder; every node is
/// stopped by its PID when the run ends (also on Ctrl+C or a crash).
/// </summary>
internal sealed class RedisClusterProcesses : IAsyncDisposable
{
    private readonly List<LocalRedisProcess> _nodes;
    private readonly string _directory;

    private RedisClusterProcesses(List<LocalRedisProcess> nodes, string directory)
    {
        _nodes = nodes;
        _directory = directory;
    }

    public IReadOnlyList<int> Ports => _nodes.Select(n => n.Port).ToArray();

    public IReadOnlyList<int> ProcessIds => _nodes.Select(n => n.ProcessId).ToArray();

    /// <summary>Every node, as StackExchange.Redis is configured for a cluster.</summary>
    public string ConnectionString => string.Join(",", Ports.Select(p => "127.0.0.1:" + p.ToString(CultureInfo.InvariantCulture)))
        + ",allowAdmin=true,abortConnect=false,connectRetry=5,syncTimeout=30000,asyncTimeout=30000";

    public static async Task<RedisClusterProcesses> StartAsync(int primaries)
    {
        var serverPath = LocalRedisProcess.FindServer()
            ?? throw new InvalidOperationException("redis-server is not on PATH: install it (Debian/Ubuntu: 'sudo apt-get install -y redis-server').");
        var cliPath = Path.Combine(Path.GetDirectoryName(serverPath)!, "redis-cli");
        var directory = Directory.CreateTempSubdirectory("redis-bench-cluster-").FullName;
        var nodes = new List<LocalRedisProcess>();
        var cluster = new RedisClusterProcesses(nodes, directory);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => cluster.KillAll();
        Console.CancelKeyPress += (_, _) => cluster.KillAll();
        try
        {
            for (var i = 0; i < primaries; i++)
            {
                var nodeDirectory = Path.Combine(directory, "node-" + i.ToString(CultureInfo.InvariantCulture));
                Directory.CreateDirectory(nodeDirectory);
                nodes.Add(await LocalRedisProcess.StartAsync(serverPath, nodeDirectory, _ =>
                    ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000", "--appendonly", "no"]));
            }

            var create = new ProcessStartInfo(cliPath) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in new[] { "--cluster", "create" }.Concat(nodes.Select(n => "127.0.0.1:" + n.Port.ToString(CultureInfo.InvariantCulture))).Concat(["--cluster-replicas", "0", "--cluster-yes"]))
            {
                create.ArgumentList.Add(argument);
            }

            using (var process = Process.Start(create) ?? throw new InvalidOperationException("redis-cli did not start."))
            {
                var output = await process.StandardOutput.ReadToEndAsync();
                await process.WaitForExitAsync();
                if (process.ExitCode != 0)
                {
                    throw new InvalidOperationException("redis-cli --cluster create failed: " + output);
                }
            }

            await cluster.WaitHealthyAsync(TimeSpan.FromSeconds(60));
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Each primary's server, by port (for its own INFO commandstats and INFO cpu).</summary>
    public IReadOnlyList<IServer> Servers(IConnectionMultiplexer redis) =>
        Ports.Select(p => redis.GetServer("127.0.0.1", p)).ToArray();

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private async Task WaitHealthyAsync(TimeSpan timeout)
    {
        using var redis = await ConnectionMultiplexer.ConnectAsync(ConnectionString);
        await Wait.UntilAsync(() =>
        {
            foreach (var port in Ports)
            {
                var info = (string?)redis.GetServer("127.0.0.1", port).Execute("CLUSTER", "INFO") ?? "";
                if (!info.Contains("cluster_state:ok", StringComparison.Ordinal) || !info.Contains("cluster_slots_ok:16384", StringComparison.Ordinal))
                {
                    return false;
                }
            }

            return true;
        }, timeout, "cluster_state:ok on every node", 200);
    }

    private void KillAll()
    {
        foreach (var node in _nodes)
        {
            try
            {
                if (!node.HasExited)
                {
                    node.Process.Kill();
                }
            }
            catch (InvalidOperationException)
            {
            }
        }
    }
}
