using System.Diagnostics;
using System.Globalization;
using RecoverableStreams.LocalRedis;

namespace RecoverableStreams.IntegrationTests.Infrastructure;

/// <summary>
/// What the multi-node topologies (<see cref="RedisCluster"/>, <see cref="RedisSentinelGroup"/>) need from the machine:
/// <c>redis-server</c> and <c>redis-cli</c> as local executables. Those tests start, kill and restart single nodes by
/// their PID and rebuild the cluster with <c>redis-cli --cluster create</c>, which neither an existing server
/// (<c>REDIS_TEST_CONNECTION</c>) nor a single Testcontainers container can do. Without them they fail with this
/// message, never skip.
/// </summary>
internal static class LocalTopology
{
    /// <summary>The paths of <c>redis-server</c> and <c>redis-cli</c>, or a failure that says what to install and why.</summary>
    public static (string Server, string Cli) Require(string topology)
    {
        var server = LocalRedisProcess.FindServer();
        var cli = server is null ? null : Path.Combine(Path.GetDirectoryName(server)!, "redis-cli");
        if (server is not null && cli is not null && File.Exists(cli))
        {
            return (server, cli);
        }

        var connection = Environment.GetEnvironmentVariable("REDIS_TEST_CONNECTION");
        throw new InvalidOperationException(
            $"The {topology} tests need redis-server and redis-cli (Redis 7+) on PATH: they start a {topology} of local " +
            "redis-server processes on free loopback ports, kill and restart single nodes by PID and migrate slots, which " +
            "an existing server or a single container cannot do" +
            (string.IsNullOrWhiteSpace(connection) ? "" : $" (REDIS_TEST_CONNECTION={connection} serves only the single-server tests)") +
            ". Install them with 'sudo apt-get install -y redis-server' (Debian/Ubuntu; brings redis-cli), 'brew install redis' " +
            "(macOS), or run ./eng/test.sh, which installs them.");
    }

    /// <summary>Runs <c>redis-cli -p port args</c> and returns its output; a non-zero exit or an error reply throws.</summary>
    public static async Task<string> CliAsync(int port, params string[] arguments)
    {
        var (_, cli) = Require("topology");
        var info = new ProcessStartInfo(cli)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in (string[])["-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), .. arguments])
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("redis-cli did not start.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw new TimeoutException($"redis-cli -p {port} {string.Join(' ', arguments)} did not finish within 60 s.");
        }

        var text = (await output).Trim();
        var stderr = (await error).Trim();
        if (process.ExitCode != 0 || text.StartsWith("ERR", StringComparison.Ordinal) || text.StartsWith("(error)", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"redis-cli -p {port} {string.Join(' ', arguments)} failed ({process.ExitCode}): {text} {stderr}");
        }

        return text;
    }

    /// <summary>Like <see cref="CliAsync"/>, but null when the node does not answer (killed, restarting).</summary>
    public static async Task<string?> TryCliAsync(int port, params string[] arguments)
    {
        try
        {
            return await CliAsync(port, arguments);
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>One field of an INFO reply (<c>role</c>, <c>cluster_state</c>, ...), or null.</summary>
    public static string? Field(string? info, string name) =>
        info?.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.Ordinal))?[(name.Length + 1)..];

    /// <summary>A fresh temporary directory for one topology (each node gets a folder inside).</summary>
    public static string NewDirectory(string name) => Directory.CreateTempSubdirectory(name + "-").FullName;

    public static void DeleteDirectory(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
            // A node killed a moment ago may still hold a file; the OS cleans the temp folder.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
