using System.Diagnostics;
using RecoverableStreams.LocalRedis;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Infrastructure;

/// <summary>
/// A Redis Cluster of N primaries and no replicas: N cluster-enabled <c>redis-server</c> processes on free loopback
/// ports, joined by <c>redis-cli --cluster create</c> (which splits the slots into equal contiguous ranges). Each
/// process is stopped by its own PID.
/// </summary>
public sealed class RedisCluster : IAsyncDisposable
{
    private readonly List<RedisServer> _nodes;

    private RedisCluster(List<RedisServer> nodes) => _nodes = nodes;

    public IReadOnlyList<RedisServer> Nodes => _nodes;

    public string ConnectionString => string.Join(",", _nodes.Select(n => n.EndPoint)) + ",allowAdmin=true,abortConnect=false,connectRetry=5,syncTimeout=10000,asyncTimeout=10000";

    public static async Task<RedisCluster> StartAsync(int primaries)
    {
        var redisCli = FindRedisCli()
            ?? throw new InvalidOperationException("redis-cli was not found next to redis-server or on PATH; install the redis-tools package (eng/ensure-redis.sh).");
        var nodes = new List<RedisServer>();
        try
        {
            for (var i = 0; i < primaries; i++)
            {
                nodes.Add(await RedisServer.StartAsync("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000"));
            }

            var create = new ProcessStartInfo(redisCli) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in new[] { "--cluster", "create" }.Concat(nodes.Select(n => n.EndPoint)).Concat(["--cluster-replicas", "0", "--cluster-yes"]))
            {
                create.ArgumentList.Add(argument);
            }

            using var process = Process.Start(create) ?? throw new InvalidOperationException("redis-cli did not start.");
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(timeout.Token);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"redis-cli --cluster create failed ({process.ExitCode}): {await output} {await error}");
            }

            var cluster = new RedisCluster(nodes);
            await Eventually.AssertAsync(cluster.IsReadyAsync, TimeSpan.FromSeconds(60), "every node reports cluster_state:ok");
            return cluster;
        }
        catch
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }

            throw;
        }
    }

    public Task<ConnectionMultiplexer> ConnectAsync() => ConnectionMultiplexer.ConnectAsync(ConnectionString);

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }
    }

    private async Task<bool> IsReadyAsync()
    {
        foreach (var node in _nodes)
        {
            await using var connection = await node.ConnectAsync();
            var info = (string?)await connection.GetServer(node.EndPoint).ExecuteAsync("CLUSTER", "INFO");
            if (info is null || !info.Contains("cluster_state:ok", StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    private static string? FindRedisCli()
    {
        var server = LocalRedisProcess.FindServer();
        var beside = server is null ? null : Path.Combine(Path.GetDirectoryName(server)!, "redis-cli");
        return beside is not null && File.Exists(beside)
            ? beside
            : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
                .Select(directory => Path.Combine(directory, "redis-cli"))
                .FirstOrDefault(File.Exists);
    }
}
