using RecoverableStreams.Benchmarks.Infrastructure;
using RecoverableStreams.Benchmarks.Micro;
using RecoverableStreams.Benchmarks.Scenarios;
using RecoverableStreams.Benchmarks.Suite;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

const string Usage = """
    Usage: RecoverableStreams.Benchmarks <scenario> [--redis host:port] [--out [file.md]] [options]

    Scenarios:
      suite      every row of docs/BENCHMARKS.md vs the Go mechanism and RedLock.net  --quick --sizes 1000,10000,100000 --max-streams --window-seconds 15 --soak-seconds 60 --pickups 100
      pickup     XADD to StreamAdded latency, keyspace notifications on vs off     --streams 200 --poll-streams 20 --poll-ms 1000
      failover   crash and graceful handover of N streams to K survivors          --sizes 100,1000,10000 --survivors 3 --lease-seconds 2
      renewal    cost of renewing M leases on one consumer                        --leases 10,100,1000,5000 --lease-seconds 3 --window-seconds 6 --rounds 30
      redlock    RedLock.net 2.3.2 locks vs leases, lost during a hold            --locks 5,50,500 --hold-seconds 20
      micro      BenchmarkDotNet: LbsEntryParser and HashSlot (no Redis)          [BenchmarkDotNet switches, e.g. --filter *]
      cluster    N idle streams with readers on a local 3-primary Redis Cluster, C consumer processes, a crash  (env) BENCH_CLUSTER_STREAMS=1000000 BENCH_CLUSTER_CONSUMERS=4 BENCH_CLUSTER_PARTITIONS=12 BENCH_DURATION=300

    Without --redis a redis-server is started on a free loopback port and stopped at the end.
    --log [level] logs the clients to the console (default level Warning).
    --out writes a markdown summary to benchmarks/results/<scenario>-<utc time>.md (or to the file given).
    """;

BenchArguments arguments;
try
{
    arguments = BenchArguments.Parse(args);
}
catch (ArgumentException)
{
    Console.WriteLine(Usage);
    return 2;
}

if (arguments.Scenario == "micro")
{
    MicroBenchmarks.Run([.. arguments.Rest]);
    return 0;
}

if (arguments.Scenario == "redlock-peer")
{
    // The RedLock.net side of the redlock scenario, started by it in a process of its own.
    await RedLockScenario.RunPeerAsync(RedisProcess.ConnectionStringFor(arguments.Redis ?? throw new ArgumentException("--redis is required")), arguments);
    return 0;
}

if (arguments.Scenario == "crash-peer")
{
    // A consumer of the suite's crash rows, killed by itself on request (a real crash, no internal API).
    await CrashPeer.RunChildAsync(arguments);
    return 0;
}

if (arguments.Scenario == "cluster-consumer")
{
    // One consumer process of the cluster row, killed by the parent. Its warnings (a session's end and why) reach the
    // parent's output through its standard output, prefixed with its name.
    using var childLogging = LoggerFactory.Create(logging => logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
    BenchConsumer.LoggerFactory = childLogging;
    await ClusterConsumer.RunChildAsync(arguments);
    return 0;
}

if (arguments.Scenario == "cluster")
{
    // eng/bench.sh --cluster: starts and stops its own Redis Cluster.
    var clusterReport = await ClusterScenario.RunAsync(arguments);
    Console.WriteLine($"\nReport written to {clusterReport}");
    Environment.Exit(0);
}

if (arguments.Scenario == "redlock-hold")
{
    // RedLock.net holding the suite's locks in a process of its own, until killed.
    await RedLockHold.RunChildAsync(arguments);
    return 0;
}

if (arguments.Scenario is not ("suite" or "pickup" or "failover" or "renewal" or "redlock"))
{
    Console.WriteLine(Usage);
    return 2;
}

using var loggerFactory = LoggerFactory.Create(logging => logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(arguments.Get("log") is { } level ? Enum.Parse<LogLevel>(level, ignoreCase: true) : LogLevel.Warning));
if (arguments.Has("log"))
{
    BenchConsumer.LoggerFactory = loggerFactory;
}

await using var server = await RedisProcess.StartOrUseAsync(arguments.Redis);
Console.WriteLine($"Redis: {server.Description}; {Environment.ProcessorCount} logical cores; {DateTimeOffset.UtcNow:u}");
using var redis = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString);
var version = redis.GetServers()[0].Version;
var started = DateTimeOffset.UtcNow;
if (arguments.Scenario == "suite")
{
    var written = await SuiteScenario.RunAsync(redis, server.EndPoint, server.Description, arguments);
    Console.WriteLine($"\nReport written to {written}");
    server.Kill();
    Environment.Exit(0);
}

var tables = arguments.Scenario switch
{
    "pickup" => await PickupScenario.RunAsync(redis, arguments),
    "failover" => await FailoverScenario.RunAsync(redis, arguments),
    "renewal" => await RenewalScenario.RunAsync(redis, arguments),
    _ => await RedLockScenario.RunAsync(server.ConnectionString, server.EndPoint, arguments),
};

foreach (var table in tables)
{
    table.Print();
}

if (arguments.WriteSummary)
{
    var path = arguments.SummaryPath ?? Path.Combine(ResultsDirectory(), $"{arguments.Scenario}-{started:yyyyMMdd-HHmmss}.md");
    var header = $"## {arguments.Scenario}\n\n`{string.Join(' ', args)}` — {started:u}, Redis {version}, {Environment.ProcessorCount} logical cores, .NET {Environment.Version}\n\n";
    await File.WriteAllTextAsync(path, header + string.Concat(tables.Select(t => t.ToMarkdown())));
    Console.WriteLine($"\nSummary written to {path}");
}

// Exit at once: a scenario may leave a starved thread pool behind (RedLock.net's timers), and orderly disposal would
// wait for it. The server is stopped first, by its PID.
server.Kill();
Environment.Exit(0);
return 0;

// benchmarks/results/, found from the working directory or the binary's location.
static string ResultsDirectory()
{
    foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "benchmarks");
            if (File.Exists(Path.Combine(dir.FullName, "RecoverableStreams.Hosting.sln")) && Directory.Exists(candidate))
            {
                return Directory.CreateDirectory(Path.Combine(candidate, "results")).FullName;
            }
        }
    }

    return Directory.CreateDirectory(Path.Combine(Directory.GetCurrentDirectory(), "results")).FullName;
}
