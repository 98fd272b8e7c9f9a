using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;
using RecoverableStreams;
using StackExchange.Redis;

// The sample worker's contract on the core client: for each data stream, sum the "v" entries in order, checkpoint
// position + sum + count every 10 entries, and at "end" write <service>:summary:<name> (sum, count, owner, token) unless
// a higher fencing token is stored, then complete the stream. Configured by the same environment variables.
// The randomized checker's consumer (tests/RecoverableStreams.FaultTests/Checker) shares this executable.
if (Environment.GetEnvironmentVariable("CHECKER_HISTORY") is { Length: > 0 } historyPath)
{
    return await CheckerWorkload.RunAsync(historyPath);
}

var service = Environment.GetEnvironmentVariable("RecoverableStreams__ServiceName") ?? "telemetry";
var connection = Environment.GetEnvironmentVariable("ConnectionStrings__Redis") ?? "localhost:6379";
var options = new RecoverableStreamOptions
{
    ServiceName = service,
    AutoClaim = true,
    LeaseDuration = Duration("RecoverableStreams__LeaseDuration") ?? TimeSpan.FromSeconds(10),
    SweepInterval = Duration("RecoverableStreams__SweepInterval") ?? TimeSpan.FromSeconds(5),
    MaxConcurrentStreams = Number("RecoverableStreams__MaxConcurrentStreams") ?? 100,
    Partitions = Number("RecoverableStreams__Partitions") ?? 1,
};

using var stop = new CancellationTokenSource();
using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    stop.Cancel();
});
using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.TimestampFormat = "HH:mm:ss.fff ").SetMinimumLevel(LogLevel.Information));
var log = loggerFactory.CreateLogger("CoreWorker");
await using var redis = await ConnectionMultiplexer.ConnectAsync(connection);
var client = new RecoverableStreamClient(redis, options, loggerFactory);
var notifications = await client.InitAsync(stop.Token);
var work = new List<Task>();
try
{
    await foreach (var notification in notifications.ReadAllAsync(stop.Token))
    {
        if (notification.Type == StreamNotificationType.StreamAdded && notification.Lease is { } lease)
        {
            work.RemoveAll(t => t.IsCompleted);
            work.Add(Task.Run(() => ProcessAsync(lease)));
        }
    }
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
}

await client.DisposeAsync();
await Task.WhenAll(work);
return 0;

async Task ProcessAsync(StreamLease lease)
{
    using var linked = CancellationTokenSource.CreateLinkedTokenSource(lease.OwnershipLost, stop.Token);
    var token = linked.Token;
    try
    {
        var checkpoint = await lease.GetCheckpointAsync(token);
        long sum = 0;
        long count = 0;
        if (checkpoint is not null && checkpoint.State.Length > 0)
        {
            var parts = Encoding.UTF8.GetString(checkpoint.State.Span).Split(':');
            sum = long.Parse(parts[0], CultureInfo.InvariantCulture);
            count = long.Parse(parts[1], CultureInfo.InvariantCulture);
        }

        var position = checkpoint?.Position ?? "0-0";
        var sinceCheckpoint = 0;
        await foreach (var entry in lease.ReadEntriesAsync(position, 100, token))
        {
            if (!entry["end"].IsNull)
            {
                var written = await redis.GetDatabase().ScriptEvaluateAsync(
                    """
                    local stored = redis.call('HGET', KEYS[1], 'token')
                    if stored and tonumber(stored) > tonumber(ARGV[4]) then return 0 end
                    redis.call('HSET', KEYS[1], 'sum', ARGV[1], 'count', ARGV[2], 'owner', ARGV[3], 'token', ARGV[4])
                    return 1
                    """,
                    [(RedisKey)$"{service}:summary:{lease.DataStreamName}"],
                    [sum, count, lease.ConsumerId, lease.FencingToken]);
                var stored = (int)written == 1;
                log.LogInformation("{Stream} ended: sum {Sum} count {Count} token {Token} stored {Stored}", lease.DataStreamName, sum, count, lease.FencingToken, stored);
                await lease.CompleteAsync(token);
                return;
            }

            if (!entry["v"].IsNull)
            {
                sum += (long)entry["v"];
                count++;
            }

            position = entry.Id!;
            if (++sinceCheckpoint >= 10)
            {
                await lease.CheckpointAsync(position, Encoding.UTF8.GetBytes($"{sum}:{count}"), token);
                sinceCheckpoint = 0;
            }
        }
    }
    catch (Exception ex) when (ex is OperationCanceledException or StreamOwnershipLostException)
    {
        var reason = ex.Message;
        log.LogInformation("{Stream} ({Id}) given up: {Reason}", lease.DataStreamName, lease.IdInLbs, reason);
    }
    catch (Exception ex)
    {
        log.LogWarning(ex, "{Stream} ({Id}) failed; releasing it", lease.DataStreamName, lease.IdInLbs);
        try
        {
            await lease.ReleaseAsync();
        }
        catch (Exception releaseError)
        {
            log.LogWarning(releaseError, "{Stream} release failed; its lease will expire", lease.DataStreamName);
        }
    }
}

static int? Number(string name) =>
    int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;

static TimeSpan? Duration(string name) =>
    TimeSpan.TryParse(Environment.GetEnvironmentVariable(name), CultureInfo.InvariantCulture, out var value) ? value : null;
