using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using RecoverableStreams;
using StackExchange.Redis;

// Runs one RecoverableStreamClient and reports what happens as lines on stdout:
//   READY <consumerId>, OWNED <id> <token>, DISOWNED <id> <reason>, LOST-TOKEN <id>,
//   CHECKPOINT-STORED|CHECKPOINT-REFUSED <id>, COMPLETED|COMPLETE-REFUSED <id>, TERMINATED <reason>, ERROR <text>.
// When a lease's OwnershipLost fires, it tries to checkpoint and complete that stream (both must be refused).
// Commands on stdin: "TRY <id>" tries the same writes now; "EXIT" stops the client (releasing its streams).
// Arguments: --endpoint host:port --service name --consumer id [--lease-ms 2000] [--autoclaim]
var arguments = ParseArguments(args);
var options = new RecoverableStreamOptions
{
    ServiceName = arguments["service"],
    ConsumerId = arguments["consumer"],
    LeaseDuration = TimeSpan.FromMilliseconds(int.Parse(arguments.GetValueOrDefault("lease-ms", "2000"), CultureInfo.InvariantCulture)),
    SweepInterval = TimeSpan.FromSeconds(1),
    PollInterval = TimeSpan.FromMilliseconds(500),
    AutoClaim = arguments.ContainsKey("autoclaim"),
};

using var redis = await ConnectionMultiplexer.ConnectAsync($"{arguments["endpoint"]},allowAdmin=true,abortConnect=false,connectRetry=5");
await using var client = new RecoverableStreamClient(redis, options);
var leases = new ConcurrentDictionary<string, StreamLease>(StringComparer.Ordinal);
var reader = await client.InitAsync();
Report($"READY {client.ConsumerId}");

var commands = Task.Run(async () =>
{
    while (await Console.In.ReadLineAsync() is { } line)
    {
        var parts = line.Split(' ', 2, StringSplitOptions.TrimEntries);
        if (parts[0] == "EXIT")
        {
            await client.DoneAsync();
            return;
        }

        if (parts[0] == "TRY" && parts.Length == 2 && leases.TryGetValue(parts[1], out var lease))
        {
            await TryWritesAsync(lease);
        }
    }
});

await foreach (var notification in reader.ReadAllAsync())
{
    var id = notification.Payload.IdInLbs;
    switch (notification.Type)
    {
        case StreamNotificationType.StreamAdded when notification.Lease is { } lease:
            leases[id] = lease;
            Report($"OWNED {id} {lease.FencingToken}");
            lease.OwnershipLost.Register(() =>
            {
                Report($"LOST-TOKEN {id}");
                _ = Task.Run(() => TryWritesAsync(lease));
            });
            break;
        case StreamNotificationType.StreamDisowned:
            Report($"DISOWNED {id} {notification.EndReason}");
            break;
        case StreamNotificationType.StreamTerminated:
            Report($"TERMINATED {notification.TerminationReason}");
            break;
    }
}

await commands.WaitAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
return 0;

async Task TryWritesAsync(StreamLease lease)
{
    try
    {
        await lease.CheckpointAsync("1-1", Encoding.UTF8.GetBytes("stale-owner-state"));
        Report($"CHECKPOINT-STORED {lease.IdInLbs}");
    }
    catch (StreamOwnershipLostException)
    {
        Report($"CHECKPOINT-REFUSED {lease.IdInLbs}");
    }
    catch (Exception ex)
    {
        Report($"ERROR checkpoint {lease.IdInLbs} {ex.GetType().Name}: {ex.Message}");
    }

    try
    {
        await client.CompleteStreamAsync(lease.Info);
        Report($"COMPLETED {lease.IdInLbs}");
    }
    catch (StreamOwnershipLostException)
    {
        Report($"COMPLETE-REFUSED {lease.IdInLbs}");
    }
    catch (Exception ex)
    {
        Report($"ERROR complete {lease.IdInLbs} {ex.GetType().Name}: {ex.Message}");
    }
}

static void Report(string line)
{
    // Console.Out is synchronized and flushes every line: the test reads them as they come.
    Console.Out.WriteLine(line);
}

static Dictionary<string, string> ParseArguments(string[] args)
{
    var result = new Dictionary<string, string>(StringComparer.Ordinal);
    for (var i = 0; i < args.Length; i++)
    {
        if (!args[i].StartsWith("--", StringComparison.Ordinal))
        {
            continue;
        }

        var name = args[i][2..];
        var hasValue = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal);
        result[name] = hasValue ? args[++i] : "true";
    }

    return result;
}
