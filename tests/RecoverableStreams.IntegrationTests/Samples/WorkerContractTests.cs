using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Samples;

/// <summary>
/// The telemetry worker's contract (samples/README.md), checked against the built worker running as a process, the
/// way the demo, the benchmarks and a Kubernetes pod run it: configured only by environment variables.
/// </summary>
[TestFixture]
public sealed class WorkerContractTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(45);
    private ConnectionMultiplexer _redis = null!;

    [SetUp]
    public async Task ConnectAsync() => _redis = await SharedRedis.Server.ConnectAsync();

    /// <summary>The keys this test wrote (data streams and their summaries), deleted after it.</summary>
    private readonly HashSet<string> _written = [];

    [TearDown]
    public async Task DisconnectAsync()
    {
        await _redis.GetDatabase().KeyDeleteAsync([.. _written.Select(k => (RedisKey)k)]);
        await _redis.DisposeAsync();
    }

    /// <summary>A data stream of this test only (the shared server runs other tests at the same time).</summary>
    private string Data(string service, string name)
    {
        var stream = $"{service}:{name}";
        _written.Add(stream);
        _written.Add($"{service}:summary:{stream}");
        return stream;
    }

    [Test]
    public async Task Worker_sums_the_integer_v_entries_written_before_and_after_assignment_and_writes_the_summary_at_end()
    {
        var service = TestOptions.NewServiceName();
        var db = _redis.GetDatabase();
        await using var worker = StartWorker(service, "contract-a");
        await db.StreamAddAsync(Data(service, "sensor-1"), "v", 5);
        var id = await new StreamPublisher(_redis, new RecoverableStreamOptions { ServiceName = service }).AddStreamAsync(Data(service, "sensor-1"));
        await Eventually.AssertAsync(async () => await db.HashExistsAsync($"{{{service}-input}}:owners", id), Deadline, "the worker owns the stream");

        await db.StreamAddAsync(Data(service, "sensor-1"), "v", 7);
        await db.StreamAddAsync(Data(service, "sensor-1"), "note", "no v: skipped");
        await db.StreamAddAsync(Data(service, "sensor-1"), "v", "not-a-number");
        await db.StreamAddAsync(Data(service, "sensor-1"), "v", -2);
        await db.StreamAddAsync(Data(service, "sensor-1"), "end", 1);

        var summary = await SummaryAsync(service, Data(service, "sensor-1"));
        Assert.Multiple(() =>
        {
            Assert.That(summary["sum"], Is.EqualTo("10"));
            Assert.That(summary["count"], Is.EqualTo("3"));
            Assert.That(summary["owner"], Is.EqualTo("redis-consumer-contract-a"));
            Assert.That(long.Parse(summary["token"]), Is.GreaterThan(0));
        });
        await Eventually.AssertAsync(async () => await db.StreamLengthAsync(service + "-input") == 0, Deadline, "returning completed the stream");
    }

    [Test]
    public async Task A_new_owner_resumes_from_the_crashed_owners_checkpoint_without_skipping_or_counting_twice()
    {
        var service = TestOptions.NewServiceName();
        var db = _redis.GetDatabase();
        await using var first = StartWorker(service, "contract-first");
        var id = await new StreamPublisher(_redis, new RecoverableStreamOptions { ServiceName = service }).AddStreamAsync(Data(service, "sensor-2"));
        var ids = new List<string>();
        for (var v = 1; v <= 25; v++)
        {
            ids.Add((await db.StreamAddAsync(Data(service, "sensor-2"), "v", v))!);
        }

        // Checkpoints come at least every 10 entries: after 25 entries the stored position is the 20th entry.
        var checkpoint = $"{{{service}-input}}:ckpt:{id}";
        await Eventually.AssertAsync(async () => await db.HashGetAsync(checkpoint, "pos") == ids[19], Deadline, "the first owner checkpointed entry 20");
        var firstToken = (long)await db.HashGetAsync(checkpoint, "token");
        await first.KillAsync();

        await using var second = StartWorker(service, "contract-second");
        for (var v = 26; v <= 30; v++)
        {
            await db.StreamAddAsync(Data(service, "sensor-2"), "v", v);
        }

        await db.StreamAddAsync(Data(service, "sensor-2"), "end", 1);

        var summary = await SummaryAsync(service, Data(service, "sensor-2"));
        Assert.Multiple(() =>
        {
            Assert.That(summary["sum"], Is.EqualTo((30 * 31 / 2).ToString()), "1 + 2 + ... + 30, each once");
            Assert.That(summary["count"], Is.EqualTo("30"));
            Assert.That(summary["owner"], Is.EqualTo("redis-consumer-contract-second"));
            Assert.That(long.Parse(summary["token"]), Is.GreaterThan(firstToken));
        });
    }

    [Test]
    public async Task Worker_does_not_overwrite_a_summary_stored_with_a_higher_fencing_token()
    {
        var service = TestOptions.NewServiceName();
        var db = _redis.GetDatabase();
        var key = $"{service}:summary:{Data(service, "sensor-3")}";
        await db.HashSetAsync(key, [new("sum", "-1"), new("count", "-1"), new("owner", "a-newer-owner"), new("token", long.MaxValue / 2)]);
        await using var worker = StartWorker(service, "contract-stale");
        await new StreamPublisher(_redis, new RecoverableStreamOptions { ServiceName = service }).AddStreamAsync(Data(service, "sensor-3"));
        await db.StreamAddAsync(Data(service, "sensor-3"), "v", 4);
        await db.StreamAddAsync(Data(service, "sensor-3"), "end", 1);

        await Eventually.AssertAsync(async () => await db.StreamLengthAsync(service + "-input") == 0, Deadline, "the stream was handled and completed");
        var summary = (await db.HashGetAllAsync(key)).ToDictionary(e => (string)e.Name!, e => (string)e.Value!);
        Assert.That(summary["owner"], Is.EqualTo("a-newer-owner"));
        Assert.That(summary["sum"], Is.EqualTo("-1"));
    }

    [Test]
    public async Task Worker_exports_its_traces_and_metrics_when_Telemetry_Exporter_is_Console()
    {
        var service = TestOptions.NewServiceName();
        var db = _redis.GetDatabase();
        await using var worker = StartWorker(service, "contract-otel", new Dictionary<string, string>
        {
            ["Telemetry__Exporter"] = "Console",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "500",
        });
        await db.StreamAddAsync(Data(service, "sensor-otel"), "v", 3);
        await db.StreamAddAsync(Data(service, "sensor-otel"), "end", 1);
        await new StreamPublisher(_redis, new RecoverableStreamOptions { ServiceName = service }).AddStreamAsync(Data(service, "sensor-otel"));

        await Eventually.AssertAsync(
            () => worker.Output.Contains($"process {service}-input", StringComparison.Ordinal)
                && worker.Output.Contains("messaging.client.consumed.messages", StringComparison.Ordinal)
                && worker.Output.Contains("messaging.process.duration", StringComparison.Ordinal),
            Deadline,
            "the console exporter printed the handler's span and the core and hosting metrics");
    }

    private static SampleProcess StartWorker(string service, string podName, Dictionary<string, string>? extra = null)
    {
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__Redis"] = SharedRedis.Server.ConnectionString,
            ["RecoverableStreams__ServiceName"] = service,
            ["RecoverableStreams__LeaseDuration"] = "00:00:02",
            ["POD_NAME"] = podName,
            ["DOTNET_ENVIRONMENT"] = "Production",
        };
        foreach (var (key, value) in extra ?? [])
        {
            environment[key] = value;
        }

        return SampleProcess.Start("RecoverableStreams.Samples.Worker", [], environment);
    }

    private async Task<Dictionary<string, string>> SummaryAsync(string service, string dataStream)
    {
        var key = $"{service}:summary:{dataStream}";
        await Eventually.AssertAsync(async () => await _redis.GetDatabase().KeyExistsAsync(key), Deadline, $"{key} is written");
        return (await _redis.GetDatabase().HashGetAllAsync(key)).ToDictionary(e => (string)e.Name!, e => (string)e.Value!);
    }
}
