using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace RecoverableStreams.Benchmarks.Infrastructure;

/// <summary>
/// The Redis a run talks to: an existing server (<c>--redis host:port</c>), or a <c>redis-server</c> process started
/// here on a free loopback port and stopped by its PID when the run ends (same approach as the integration tests).
/// </summary>
internal sealed class RedisProcess : IAsyncDisposable
{
    private readonly Process? _process;
    private readonly string? _workDirectory;

    private RedisProcess(string endPoint, Process? process, string? workDirectory)
    {
        EndPoint = endPoint;
        _process = process;
        _workDirectory = workDirectory;
    }

    public string EndPoint { get; }

    public bool OwnsServer => _process is not null;

    public string Description => _process is null ? $"existing server {EndPoint}" : $"redis-server pid {_process.Id} on {EndPoint}";

    /// <summary>A configuration string: admin commands allowed (CONFIG, INFO), generous timeouts for a loaded machine.</summary>
    public string ConnectionString => ConnectionStringFor(EndPoint);

    public static string ConnectionStringFor(string endPoint) => $"{endPoint},allowAdmin=true,abortConnect=false,connectRetry=5,syncTimeout=30000,asyncTimeout=30000";

    public static async Task<RedisProcess> StartOrUseAsync(string? existingEndPoint)
    {
        if (!string.IsNullOrWhiteSpace(existingEndPoint))
        {
            return new RedisProcess(existingEndPoint, null, null);
        }

        var serverPath = FindOnPath("redis-server")
            ?? throw new InvalidOperationException("redis-server is not on PATH: install it (Debian/Ubuntu: 'sudo apt-get install -y redis-server') or pass --redis host:port.");
        var workDirectory = Directory.CreateTempSubdirectory("redis-bench-").FullName;
        for (var attempt = 0; ; attempt++)
        {
            var port = FreePort();
            var info = new ProcessStartInfo(serverPath)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = workDirectory,
            };
            foreach (var argument in new[] { "--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workDirectory })
            {
                info.ArgumentList.Add(argument);
            }

            var process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start.");
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            if (await WaitUntilReadyAsync(process, port, TimeSpan.FromSeconds(10)))
            {
                // Ctrl+C, SIGTERM or an unhandled exception must not leave the server running.
                AppDomain.CurrentDomain.ProcessExit += (_, _) => KillQuietly(process);
                AppDomain.CurrentDomain.UnhandledException += (_, _) => KillQuietly(process);
                Console.CancelKeyPress += (_, _) => KillQuietly(process);
                return new RedisProcess($"127.0.0.1:{port}", process, workDirectory);
            }

            if (!process.HasExited)
            {
                process.Kill();
            }

            await process.WaitForExitAsync();
            process.Dispose();
            if (attempt >= 3)
            {
                throw new InvalidOperationException($"redis-server did not answer on port {port}.");
            }
        }
    }

    /// <summary>Stops the server at once, without the thread pool (which a starved benchmark may not give back).</summary>
    public void Kill()
    {
        if (_process is not null)
        {
            KillQuietly(_process);
            _process.WaitForExit(2000);
        }

        if (_workDirectory is not null && Directory.Exists(_workDirectory))
        {
            Directory.Delete(_workDirectory, recursive: true);
        }
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

        if (_workDirectory is not null && Directory.Exists(_workDirectory))
        {
            Directory.Delete(_workDirectory, recursive: true);
        }
    }

    private static void KillQuietly(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone or disposed.
        }
    }

    private static async Task<bool> WaitUntilReadyAsync(Process process, int port, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < timeout)
        {
            if (process.HasExited)
            {
                return false;
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                await using var stream = client.GetStream();
                await stream.WriteAsync("PING\r\n"u8.ToArray());
                var buffer = new byte[64];
                var read = await stream.ReadAsync(buffer);
                if (read > 0 && buffer[0] == (byte)'+')
                {
                    return true;
                }
            }
            catch (SocketException)
            {
            }
            catch (IOException)
            {
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50));
        }

        return false;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string? FindOnPath(string name)
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Concat(["/usr/bin", "/usr/local/bin", "/usr/sbin"]))
        {
            var candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
