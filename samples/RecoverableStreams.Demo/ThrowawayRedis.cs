using DotNet.Testcontainers.Configurations;
using RecoverableStreams.LocalRedis;
using Testcontainers.Redis;

namespace RecoverableStreams.Demo;

/// <summary>
/// The Redis the demo runs against: the one it was given, else a <c>redis-server</c> from PATH on a free loopback
/// port (stopped by its PID at the end), else a Testcontainers container when a Docker engine answers.
/// </summary>
internal sealed class ThrowawayRedis : IAsyncDisposable
{
    private readonly LocalRedisProcess? _process;
    private readonly RedisContainer? _container;
    private readonly string? _directory;

    private ThrowawayRedis(string connectionString, string description, LocalRedisProcess? process, RedisContainer? container, string? directory)
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

        var server = LocalRedisProcess.FindServer();
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
            await _process.DisposeAsync();
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
        var process = await LocalRedisProcess.StartAsync(serverPath, directory, cancellationToken: cancellationToken);
        return new ThrowawayRedis(
            $"127.0.0.1:{process.Port},allowAdmin=true,abortConnect=false",
            $"redis-server pid {process.ProcessId} on 127.0.0.1:{process.Port}",
            process,
            null,
            directory);
    }
}
