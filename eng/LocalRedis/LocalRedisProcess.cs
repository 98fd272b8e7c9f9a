using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace RecoverableStreams.LocalRedis;

/// <summary>
/// A <c>redis-server</c> child process on a loopback port, stopped by its own PID. One implementation, compiled into
/// the integration tests, the fault tests, the demo and the benchmarks (linked source, not part of any package).
/// </summary>
internal sealed class LocalRedisProcess : IAsyncDisposable
{
    private LocalRedisProcess(Process process, int port)
    {
        Process = process;
        Port = port;
    }

    public Process Process { get; }

    public int Port { get; }

    public int ProcessId => Process.Id;

    public bool HasExited => Process.HasExited;

    /// <summary>The <c>redis-server</c> executable on PATH (or in the usual Debian folders), if there is one.</summary>
    public static string? FindServer() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/bin", "/usr/local/bin", "/usr/sbin"])
            .Select(directory => Path.Combine(directory, "redis-server"))
            .FirstOrDefault(File.Exists);

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// Starts <c>redis-server</c> bound to 127.0.0.1 without persistence (unless <paramref name="extraArguments"/> say
    /// otherwise) in <paramref name="directory"/>, on <paramref name="port"/> or a free port, and waits until it is
    /// ready. A port taken between choosing and binding (or, on a restart, not yet free) is retried.
    /// </summary>
    /// <param name="extraArguments">More redis-server arguments, given the chosen port (later arguments win).</param>
    /// <param name="isReady">How readiness is checked; by default a plain-text PING (a NOAUTH reply counts).</param>
    /// <param name="configFile">A configuration file, given first (redis-server reads it before the arguments); a
    /// Sentinel needs one it can rewrite.</param>
    public static async Task<LocalRedisProcess> StartAsync(
        string serverPath,
        string directory,
        Func<int, IEnumerable<string>>? extraArguments = null,
        int? port = null,
        Func<int, Process, Task<bool>>? isReady = null,
        string? configFile = null,
        CancellationToken cancellationToken = default)
    {
        isReady ??= (p, process) => AnswersPingAsync(p, process, TimeSpan.FromSeconds(10), cancellationToken);
        for (var attempt = 1; ; attempt++)
        {
            var chosenPort = port ?? FreePort();
            var info = new ProcessStartInfo(serverPath)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = directory,
            };
            string[] file = configFile is null ? [] : [configFile];
            string[] defaults = ["--port", chosenPort.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory];
            foreach (var argument in file.Concat(defaults).Concat(extraArguments?.Invoke(chosenPort) ?? []))
            {
                info.ArgumentList.Add(argument);
            }

            var process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start.");
            // Drain its output so a chatty server never blocks on a full pipe.
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            if (await isReady(chosenPort, process).ConfigureAwait(false))
            {
                return new LocalRedisProcess(process, chosenPort);
            }

            var exitCode = await KillAsync(process).ConfigureAwait(false);
            process.Dispose();
            var attempts = port is null ? 3 : 20;
            if (attempt >= attempts)
            {
                throw new InvalidOperationException($"redis-server ({serverPath}) did not answer on 127.0.0.1:{chosenPort} (exit code {exitCode}).");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>True once the server answers PING on the port (or NOAUTH, when it requires a password).</summary>
    public static async Task<bool> AnswersPingAsync(int port, Process process, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout && !process.HasExited)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port, cancellationToken).ConfigureAwait(false);
                var stream = client.GetStream();
                await using var closeStream = stream.ConfigureAwait(false);
                await stream.WriteAsync("PING\r\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
                var buffer = new byte[64];
                var read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (read > 0 && (buffer[0] == (byte)'+' || System.Text.Encoding.ASCII.GetString(buffer, 0, read).StartsWith("-NOAUTH", StringComparison.Ordinal)))
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

            await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken).ConfigureAwait(false);
        }

        return false;
    }

    /// <summary>Kills the server (SIGKILL) by its PID and waits until it is gone.</summary>
    public async Task StopAsync() => await KillAsync(Process).ConfigureAwait(false);

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        Process.Dispose();
    }

    private static async Task<int> KillAsync(Process process)
    {
        if (!process.HasExited)
        {
            try
            {
                process.Kill();
            }
            catch (InvalidOperationException)
            {
                // It exited between the check and the kill.
            }
        }

        await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        return process.ExitCode;
    }
}
