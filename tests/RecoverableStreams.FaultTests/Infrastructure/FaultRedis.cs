using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.FaultTests.Infrastructure;

/// <summary>
/// A private <c>redis-server</c> process for one scenario, in its own directory, that the test may kill (SIGKILL) and
/// start again on the same port: with its data (AOF, <c>--appendfsync always</c>) or without (the files are deleted
/// first, as on a pod that lost its volume).
/// </summary>
internal sealed class FaultRedis : IAsyncDisposable
{
    private readonly string _directory;
    private readonly string[] _arguments;
    private readonly List<RedisServer> _servers = [];

    private FaultRedis(string directory, string[] arguments, RedisServer server)
    {
        _directory = directory;
        _arguments = arguments;
        _servers.Add(server);
    }

    public RedisServer Server => _servers[^1];

    public int Port => Server.Port;

    public bool Persistent { get; private set; }

    public int Restarts { get; private set; }

    /// <summary>When the last restart that lost the data happened (Unix ms, this machine's clock); null when none did.</summary>
    public long? DataLostAtUnixMs { get; private set; }

    /// <summary>True when the stream's LBS entry was written after the last data loss (or there was none).</summary>
    public bool AnnouncedAfterDataLoss(ProducedStream stream) =>
        DataLostAtUnixMs is not { } lost || (stream.LbsId is { } id && long.Parse(id.Split('-')[0], System.Globalization.CultureInfo.InvariantCulture) > lost);

    public static async Task<FaultRedis> StartAsync(bool appendOnly)
    {
        var directory = Directory.CreateTempSubdirectory("fault-redis-").FullName;
        string[] arguments = appendOnly
            ? ["--dir", directory, "--appendonly", "yes", "--appendfsync", "always"]
            : ["--dir", directory];
        var server = await RedisServer.StartAsync(arguments);
        return new FaultRedis(directory, arguments, server) { Persistent = appendOnly };
    }

    /// <summary>SIGKILL, then a new process on the same port after <paramref name="downtime"/>. Returns when it answers PING.</summary>
    public async Task KillAndRestartAsync(bool keepData, TimeSpan downtime)
    {
        await Server.StopProcessAsync();
        if (!keepData)
        {
            // Between the old server's death and the new one's start: every LBS id (a millisecond time on this same
            // machine's clock) written before the loss is lower, every one written after is higher.
            DataLostAtUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            foreach (var entry in new DirectoryInfo(_directory).EnumerateFileSystemInfos())
            {
                if (entry is DirectoryInfo d)
                {
                    d.Delete(recursive: true);
                }
                else
                {
                    entry.Delete();
                }
            }
        }

        await Task.Delay(downtime);
        _servers.Add(await Server.RestartAsync(_arguments));
        Restarts++;
    }

    /// <summary><c>CLIENT KILL TYPE pubsub</c>: every subscriber connection is dropped. Returns how many were.</summary>
    public async Task<long> KillPubSubClientsAsync(IConnectionMultiplexer admin)
    {
        var reply = await admin.GetDatabase().ExecuteAsync("CLIENT", "KILL", "TYPE", "pubsub");
        return (long)reply;
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = _servers.Count - 1; i >= 0; i--)
        {
            await _servers[i].DisposeAsync();
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
