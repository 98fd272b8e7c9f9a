using RecoverableStreams.LocalRedis;

namespace RecoverableStreams.Benchmarks.Infrastructure;

/// <summary>
/// The Redis a run talks to: an existing server (<c>--redis host:port</c>), or a <c>redis-server</c> process started
/// here on a free loopback port (the launcher the tests and the demo use) and stopped by its PID when the run ends.
/// </summary>
internal sealed class RedisProcess : IAsyncDisposable
{
    private readonly LocalRedisProcess? _process;
    private readonly string? _workDirectory;

    private RedisProcess(string endPoint, LocalRedisProcess? process, string? workDirectory)
    {
        EndPoint = endPoint;
        _process = process;
        _workDirectory = workDirectory;
    }

    public string EndPoint { get; }

    public bool OwnsServer => _process is not null;

    public string Description => _process is null ? $"existing server {EndPoint}" : $"redis-server pid {_process.ProcessId} on {EndPoint}";

    /// <summary>A configuration string: admin commands allowed (CONFIG, INFO), generous timeouts for a loaded machine.</summary>
    public string ConnectionString => ConnectionStringFor(EndPoint);

    public static string ConnectionStringFor(string endPoint) => $"{endPoint},allowAdmin=true,abortConnect=false,connectRetry=5,syncTimeout=30000,asyncTimeout=30000";

    public static async Task<RedisProcess> StartOrUseAsync(string? existingEndPoint)
    {
        if (!string.IsNullOrWhiteSpace(existingEndPoint))
        {
            return new RedisProcess(existingEndPoint, null, null);
        }

        var serverPath = LocalRedisProcess.FindServer()
            ?? throw new InvalidOperationException("redis-server is not on PATH: install it (Debian/Ubuntu: 'sudo apt-get install -y redis-server') or pass --redis host:port.");
        var workDirectory = Directory.CreateTempSubdirectory("redis-bench-").FullName;
        var process = await LocalRedisProcess.StartAsync(serverPath, workDirectory);
        // Ctrl+C, SIGTERM or an unhandled exception must not leave the server running.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillQuietly(process);
        AppDomain.CurrentDomain.UnhandledException += (_, _) => KillQuietly(process);
        Console.CancelKeyPress += (_, _) => KillQuietly(process);
        return new RedisProcess($"127.0.0.1:{process.Port}", process, workDirectory);
    }

    /// <summary>Stops the server at once, without the thread pool (which a starved benchmark may not give back).</summary>
    public void Kill()
    {
        if (_process is not null)
        {
            KillQuietly(_process);
            _process.Process.WaitForExit(2000);
        }

        DeleteWorkDirectory();
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }

        DeleteWorkDirectory();
    }

    private void DeleteWorkDirectory()
    {
        if (_workDirectory is not null && Directory.Exists(_workDirectory))
        {
            Directory.Delete(_workDirectory, recursive: true);
        }
    }

    private static void KillQuietly(LocalRedisProcess process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Process.Kill();
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone or disposed.
        }
    }
}
