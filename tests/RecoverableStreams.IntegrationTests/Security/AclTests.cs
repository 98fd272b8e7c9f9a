using Microsoft.Extensions.Logging;
using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Security;

/// <summary>
/// The least-privilege ACL users of docs/SECURITY.md, created exactly as written there (with the example service name
/// "orders" replaced), run the whole life of a stream on a private server: assignment, checkpoints, data stream reads,
/// completion, release, crash failover, dead letters and reconciliation. No command but CONFIG is ever refused.
/// </summary>
[NonParallelizable]
public sealed class AclTests
{
    private const string Password = "acl-test-pw-7f3a";

    // What StackExchange.Redis asks on connect and does without (docs/SECURITY.md says why each is left out).
    private static readonly string[] StackExchangeRedisProbes = ["config|get", "info", "cluster|nodes", "cluster|slots"];
    private RedisServer _server = null!;
    private ConnectionMultiplexer _admin = null!;

    [OneTimeSetUp]
    public async Task StartServerAsync()
    {
        // Keyspace events on from the start: the users cannot run CONFIG, so the flags are the operator's job.
        _server = await RedisServer.StartAsync("--notify-keyspace-events", "KExt");
        _admin = await _server.ConnectAsync();
    }

    [OneTimeTearDown]
    public async Task StopServerAsync()
    {
        await _admin.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Test]
    public async Task Workers_and_publisher_with_the_documented_acl_assign_complete_fail_over_and_read_data_streams()
    {
        var service = "acl" + Guid.NewGuid().ToString("N")[..8];
        await CreateUserAsync("ACL SETUSER orders-worker ", service);
        await CreateUserAsync("ACL SETUSER orders-publisher ", service);
        await _admin.GetServer(_server.EndPoint).ExecuteAsync("ACL", "LOG", "RESET");

        using var logs = new LogCapture();
        using var loggerFactory = logs.Factory;
        // allowAdmin on purpose: the client tries CONFIG, is refused by the ACL, logs a warning and carries on.
        await using var workerConnection = await ConnectAsync(service + "-worker", allowAdmin: true);
        await using var publisherConnection = await ConnectAsync(service + "-publisher", allowAdmin: false);

        var dataStream = service + ":session-1";
        await _admin.GetDatabase().StreamAddAsync(dataStream, "n", 1);
        await _admin.GetDatabase().StreamAddAsync(dataStream, "n", 2);

        var options = TestOptions.For(service, autoClaim: true);
        await using var first = await TestConsumer.StartAsync(workerConnection, options, loggerFactory);
        var publisher = new StreamPublisher(publisherConnection, TestOptions.For(service));

        // Assignment, checkpoint, reading the data stream (with its keyspace wake-up), completion.
        await publisher.AddStreamAsync(dataStream, new Dictionary<string, object?> { ["tenant"] = "t1" });
        await Eventually.AssertAsync(() => first.Owned.Count == 1, TimeSpan.FromSeconds(15), "the ACL worker is assigned the stream");
        var lease = first.Owned[0];
        var read = new List<StreamEntry>();
        using (var readTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(15)))
        {
            await foreach (var entry in lease.ReadEntriesAsync(cancellationToken: readTimeout.Token))
            {
                read.Add(entry);
                await lease.CheckpointAsync(entry.Id!, "state"u8.ToArray());
                if (read.Count == 2)
                {
                    break;
                }
            }
        }

        Assert.That(read.Select(e => (int)e["n"]), Is.EqualTo(new[] { 1, 2 }));
        Assert.That((await lease.GetCheckpointAsync())!.Position, Is.EqualTo(read[1].Id.ToString()));
        await first.Client.CompleteStreamAsync(dataStream);
        Assert.That(await _admin.GetDatabase().StreamLengthAsync(service + "-input"), Is.Zero, "completion deletes the LBS entry");

        // Crash failover to a second ACL worker.
        await publisher.AddStreamAsync(service + ":session-2");
        await Eventually.AssertAsync(() => first.Owned.Count == 1, TimeSpan.FromSeconds(15), "the first worker owns session-2");
        await using var second = await TestConsumer.StartAsync(workerConnection, TestOptions.For(service, autoClaim: true), loggerFactory);
        var crashedToken = first.Owned[0].FencingToken;
        await first.CrashAsync();
        await Eventually.AssertAsync(() => second.Owned.Any(l => l.DataStreamName == service + ":session-2"), TimeSpan.FromSeconds(20),
            "the second worker claims the crashed worker's stream");
        Assert.That(second.Owned.Single().FencingToken, Is.GreaterThan(crashedToken), "the new owner has a higher fencing token");

        // Release hands over at once; a malformed entry is dead-lettered.
        await using var third = await TestConsumer.StartAsync(workerConnection, TestOptions.For(service, autoClaim: true), loggerFactory);
        await second.Client.ReleaseStreamAsync(service + ":session-2");
        await Eventually.AssertAsync(() => third.Owned.Count + second.Owned.Count == 1, TimeSpan.FromSeconds(15), "the released stream gets a new owner at once");
        await _admin.GetDatabase().StreamAddAsync(service + "-input", "lbs-input", "not json");
        await Eventually.AssertAsync(async () => await _admin.GetDatabase().StreamLengthAsync("{" + service + "-input}:dead") == 1,
            TimeSpan.FromSeconds(15), "the malformed entry is dead-lettered");

        var warnings = logs.Records.Where(r => r.EventId.Id == 104).ToArray();
        Assert.That(warnings, Is.Not.Empty, "the refused CONFIG is logged as a warning");
        var refused = await RefusedCommandsAsync();
        Assert.That(refused, Is.SubsetOf(StackExchangeRedisProbes), "only StackExchange.Redis' optional probes were refused: " + string.Join(", ", refused));
    }

    [Test]
    public async Task A_worker_whose_acl_predates_role_and_wait_completes_streams_and_says_so_once()
    {
        // An ACL written before completions asked a replica (no +role +wait): completions must not wait out a refusal
        // each, and the operator must hear, once, what is missing.
        var service = "acl" + Guid.NewGuid().ToString("N")[..8];
        await CreateUserAsync("ACL SETUSER orders-worker ", service, without: " +role +wait");
        await CreateUserAsync("ACL SETUSER orders-publisher ", service);
        using var logs = new LogCapture();
        using var loggerFactory = logs.Factory;
        await using var workerConnection = await ConnectAsync(service + "-worker", allowAdmin: false);
        await using var publisherConnection = await ConnectAsync(service + "-publisher", allowAdmin: false);
        var options = TestOptions.For(service, autoClaim: true);
        await using var worker = await TestConsumer.StartAsync(workerConnection, options, loggerFactory);
        var publisher = new StreamPublisher(publisherConnection, TestOptions.For(service));

        foreach (var n in new[] { 1, 2 })
        {
            await publisher.AddStreamAsync($"{service}:s-{n}");
            await Eventually.AssertAsync(() => worker.Owned.Count == 1, TimeSpan.FromSeconds(15), $"the worker owns s-{n}");
            await worker.Owned[0].CompleteAsync().WaitAsync(TimeSpan.FromSeconds(5));
        }

        Assert.Multiple(async () =>
        {
            Assert.That(await _admin.GetDatabase().StreamLengthAsync(service + "-input"), Is.Zero, "both completed");
            Assert.That(logs.WithEventId(208), Has.Count.EqualTo(1), "the refusal is reported once, not per completion");
            Assert.That(await RefusedCommandsAsync(), Does.Contain("role"), "the fault took effect: ROLE was refused");
        });
    }

    private async Task CreateUserAsync(string documentedPrefix, string service, string without = "")
    {
        var documented = RepositoryDocs.SecurityLine(documentedPrefix);
        Assert.That(without.Length == 0 || documented.Contains(without, StringComparison.Ordinal), Is.True, $"the documented line holds '{without}'");
        var line = (without.Length == 0 ? documented : documented.Replace(without, "", StringComparison.Ordinal)).Replace("orders", service, StringComparison.Ordinal).Replace(">CHANGE-ME", ">" + Password, StringComparison.Ordinal);
        var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(words[0] + " " + words[1], Is.EqualTo("ACL SETUSER"));
        await _admin.GetServer(_server.EndPoint).ExecuteAsync("ACL", words.Skip(1).Cast<object>().ToArray());
    }

    private Task<ConnectionMultiplexer> ConnectAsync(string user, bool allowAdmin) =>
        ConnectionMultiplexer.ConnectAsync($"{_server.EndPoint},user={user},password={Password},allowAdmin={allowAdmin},tiebreaker=,configChannel=,abortConnect=false,connectRetry=5,syncTimeout=10000,asyncTimeout=10000");

    private async Task<string[]> RefusedCommandsAsync()
    {
        var log = (RedisResult[])(await _admin.GetServer(_server.EndPoint).ExecuteAsync("ACL", "LOG"))!;
        var refused = new List<string>();
        foreach (var entry in log)
        {
            var fields = entry.ToDictionary();
            refused.Add($"{fields["reason"]}:{fields["object"]}");
            TestContext.Out.WriteLine($"ACL LOG entry: {fields["username"]} {fields["reason"]} {fields["object"]} x{fields["count"]}");
        }

        TestContext.Out.WriteLine("ACL LOG: " + string.Join(", ", refused));
        return refused.Where(r => r.StartsWith("command:", StringComparison.Ordinal)).Select(r => r["command:".Length..]).Concat(
            refused.Where(r => !r.StartsWith("command:", StringComparison.Ordinal))).Distinct().ToArray();
    }
}
