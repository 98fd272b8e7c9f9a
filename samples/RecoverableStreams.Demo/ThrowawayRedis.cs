using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using DotNet.Testcontainers.Configurations;
using Testcontainers.Redis;

namespace RecoverableStreams.Demo;

/// <summary>
/// The Redis the demo runs against: the one it was given, else a <c>redis-server</c> from PATH on a free loopback
/// port (stopped by its PID at the end), else a Testcontainers container when a Docker engine answers.
/// </summary>
internal sealed class ThrowawayRedis : IAsyncDisposable
{
    private readonly Process? _process;
    private readonly RedisContainer? _container;
    private readonly string? _directory;

    private ThrowawayRedis(string connectionString, string description, Process? process, RedisContainer? container, string? directory)
    {
        ConnectionString = connectionString;
        Description = description;
        _process = process;
        _container = container;
        _directory = directory;
    }

    /// <summary>A StackExchange.Redis configuration string; admin commands allowed (the workers set keyspace flags).</summary>
    public string ConnectionString { get; }

    public string Description { get; }

    /// <summary>True for a server the demo was given: it must remove its keys from it, not stop it.</summary>
    public bool IsGiven => _process is null && _container is null;

    public static async Task<ThrowawayRedis> StartAsync(string? given, CancellationToken cancellationToken)
    {
        if (!string.IsNullOrWhiteSpace(given))
        {
            var connection = given.Contains("allowAdmin", StringComparison.OrdinalIgnoreCase) ? given : given + ",allowAdmin=true";
            return new ThrowawayRedis(connection, "given: " + given.Split(',')[0], null, null, null);
        }

        var server = FindOnPath("redis-server");
        if (server is not null)
        {
            return await StartProcessAsync(server, cancellationToken);
        }

        if (TestcontainersSettings.OS.DockerEndpointAuthConfig is not null)
        {
            var container = new RedisBuilder("redis:7.2").Build();
            await container.StartAsync(cancellationToken);
            return new ThrowawayRedis(container.GetConnectionString() + ",allowAdmin=true", "Testcontainers redis:7.2", null, container, null);
        }

        throw new InvalidOperationException(
            "No Redis: install redis-server (Debian/Ubuntu: 'sudo apt-get install -y redis-server', or run eng/demo.sh, which does it), " +
            "start a Docker engine, or pass --redis host:port.");
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync();
            }

            _process.Dispose();
        }

        if (_container is not null)
        {
            await _container.DisposeAsync();
        }

        if (_directory is not null)
        {
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
                // Only a temp folder; the OS cleans it.
            }
        }
    }

    private static async Task<ThrowawayRedis> StartProcessAsync(string serverPath, CancellationToken cancellationToken)
    {
        var directory = Directory.CreateTempSubdirectory("recoverable-streams-demo-").FullName;
        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort();
            var info = new ProcessStartInfo(serverPath)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = directory,
            };
            foreach (var argument in new[] { "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory })
            {
                info.ArgumentList.Add(argument);
            }

            var process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start.");
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            if (await AnswersPingAsync(port, process, TimeSpan.FromSeconds(10), cancellationToken))
            {
                return new ThrowawayRedis(
                    $"127.0.0.1:{port},allowAdmin=true,abortConnect=false",
                    $"redis-server pid {process.Id} on 127.0.0.1:{port}",
                    process,
                    null,
                    directory);
            }

            if (!process.HasExited)
            {
                process.Kill();
            }

            await process.WaitForExitAsync(CancellationToken.None);
            process.Dispose();
            if (attempt >= 3)
            {
                throw new InvalidOperationException($"redis-server ({serverPath}) did not answer on 127.0.0.1:{port}.");
            }
        }
    }

    private static async Task<bool> AnswersPingAsync(int port, Process process, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout && !process.HasExited)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
                await using var stream = client.GetStream();
                await stream.WriteAsync("PING\r\n"u8.ToArray(), cancellationToken);
                var buffer = new byte[16];
                if (await stream.ReadAsync(buffer, cancellationToken) > 0 && buffer[0] == (byte)'+')
                {
                    return true;
                }
            }
            catch (SocketException)
            {
                // Not listening yet.
            }
            catch (IOException)
            {
                // Closed while starting.
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken);
        }

        return false;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/bin", "/usr/local/bin", "/usr/sbin"])
            .Select(directory => Path.Combine(directory, name))
            .FirstOrDefault(File.Exists);
}
