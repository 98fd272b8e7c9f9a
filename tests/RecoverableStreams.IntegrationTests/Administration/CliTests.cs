using RecoverableStreams.Cli;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using RecoverableStreams.LocalRedis;
using Spectre.Console;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Administration;

/// <summary>The <c>rstreams</c> tool run in-process (its real entry point, a captured console) against a real Redis.</summary>
public sealed class CliTests : SharedRedisTest
{
    [Test]
    public async Task Status_prints_the_counts_and_each_consumer_with_its_heartbeat()
    {
        var options = TestOptions.For(consumerId: "worker-a");
        await using var consumer = await TestConsumer.StartAsync(Redis, options);
        var publisher = new StreamPublisher(Redis, options);
        await publisher.AddStreamAsync("orders-1");
        await publisher.AddStreamAsync("orders-2");
        await Eventually.AssertAsync(() => consumer.Owned.Count == 2, TimeSpan.FromSeconds(10), "the consumer owns both streams");

        var run = await RunAsync("status", "--redis", SharedRedis.Server.ConnectionString, "--service", options.ServiceName!, "--lease-duration", "00:00:02");

        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(run.Output, Does.Contain("Service " + options.ServiceName));
        Assert.That(Row(run.Output, "Entries in LBS", 0), Is.EqualTo(new[] { "2", "0", "2", "2", "0" }), run.Output);
        var consumerRow = Row(run.Output, "worker-a");
        Assert.That(consumerRow[^1], Is.EqualTo("2"), run.Output);
        Assert.That(consumerRow[^2], Is.EqualTo("live"), run.Output);
        Assert.That(consumerRow[3], Does.EndWith(" s"), run.Output);

        // Without the lease the tool does not guess a heartbeat: it shows the deadline only.
        var unknownLease = await RunAsync("status", "--redis", SharedRedis.Server.ConnectionString, "--service", options.ServiceName!);
        var unknownRow = Row(unknownLease.Output, "worker-a");
        Assert.That(unknownRow[2..4], Is.EqualTo(new[] { "?", "?" }), unknownLease.Output);
        Assert.That(unknownLease.Output, Does.Contain("--lease-duration"));
    }

    [Test]
    public async Task The_heartbeat_age_is_measured_with_the_consumers_lease_not_a_fixed_one()
    {
        // A 30 s lease: the deadline is 30 s after each renewal. Dated with a fixed 10 s lease the renewal would be
        // 20 s in the future and the age 0 (clamped); dated with the real lease, age + time to deadline = the lease.
        var options = TestOptions.For(consumerId: "slow-lease", lease: TimeSpan.FromSeconds(30));
        await using var consumer = await TestConsumer.StartAsync(Redis, options);

        var run = await RunAsync("status", "--output", "json", "--redis", SharedRedis.Server.ConnectionString, "--service", options.ServiceName!, "--lease-duration", "00:00:30");

        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        using var json = System.Text.Json.JsonDocument.Parse(run.Output);
        var c = json.RootElement.GetProperty("consumers")[0];
        var age = c.GetProperty("heartbeatAgeMs").GetInt64();
        var deadlineIn = c.GetProperty("deadlineInMs").GetInt64();
        Assert.That(age + deadlineIn, Is.InRange(29_998, 30_002), run.Output);
        Assert.That(deadlineIn, Is.GreaterThan(10_000), "renewed every 10 s, a 30 s session has more than 10 s left: " + run.Output);
    }

    [Test]
    public async Task Owners_lists_each_owned_stream_with_consumer_and_token_and_the_connection_may_come_from_the_environment()
    {
        var options = TestOptions.For(consumerId: "worker-b");
        await using var consumer = await TestConsumer.StartAsync(Redis, options);
        await new StreamPublisher(Redis, options).AddStreamAsync("invoices-[eu]");
        await Eventually.AssertAsync(() => consumer.Owned.Count == 1, TimeSpan.FromSeconds(10), "the consumer owns the stream");
        var lease = consumer.Owned.Single();
        var environment = new Dictionary<string, string?> { ["RSTREAMS_REDIS"] = SharedRedis.Server.ConnectionString, ["RSTREAMS_SERVICE"] = options.ServiceName };

        var run = await RunAsync(environment, "owners");

        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        var row = Row(run.Output, "invoices-[eu]");
        Assert.That(row[1], Is.EqualTo(lease.IdInLbs));
        Assert.That(row[2], Is.EqualTo("worker-b"));
        Assert.That(row[4], Is.EqualTo(lease.FencingToken.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.That(run.Output, Does.Contain("1 owned stream(s)."));
    }

    [Test]
    public async Task Dlq_list_replay_and_purge_change_the_dead_letter_stream()
    {
        var options = TestOptions.For();
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        var publisher = new StreamPublisher(Redis, options);
        await using (var consumer = await TestConsumer.StartAsync(Redis, options))
        {
            for (var i = 0; i < 3; i++)
            {
                await publisher.AddStreamAsync($"bad-{i}");
            }

            await Eventually.AssertAsync(() => consumer.Owned.Count == 3, TimeSpan.FromSeconds(10), "the consumer owns the three streams");
            foreach (var lease in consumer.Owned.OrderBy(l => l.DataStreamName, StringComparer.Ordinal))
            {
                await lease.DeadLetterAsync("poison [x]");
            }
        }

        var deadIds = (await db.StreamRangeAsync(keys.Dead)).Select(e => (string)e.Id!).ToArray();
        Assert.That(deadIds, Has.Length.EqualTo(3));
        string[] Connection(params string[] args) => [.. args, "--redis", SharedRedis.Server.ConnectionString, "--service", options.ServiceName!];

        var list = await RunAsync(Connection("dlq", "list", "--count", "2"));
        Assert.That(list.ExitCode, Is.EqualTo(0), list.Error);
        Assert.That(Row(list.Output, deadIds[0])[1], Is.EqualTo("bad-0"), list.Output);
        Assert.That(Row(list.Output, deadIds[0])[3], Is.EqualTo("poison [x]"), list.Output);
        Assert.That(list.Output, Does.Contain("More: rstreams dlq list --after " + deadIds[1]));
        Assert.That(list.Output, Does.Not.Contain(deadIds[2]));

        var replay = await RunAsync(Connection("dlq", "replay", deadIds[0]));
        Assert.That(replay.ExitCode, Is.EqualTo(0), replay.Error);
        Assert.That(replay.Output, Does.Contain("Replayed " + deadIds[0] + " as LBS entry "));
        var announced = await db.StreamRangeAsync(keys.Lbs);
        Assert.That(announced, Has.Length.EqualTo(1));
        Assert.That((string?)announced[0][LbsInputMessage.FieldName], Does.Contain("\"bad-0\""));
        Assert.That(await db.StreamLengthAsync(keys.Dead), Is.EqualTo(2));

        var again = await RunAsync(Connection("dlq", "replay", deadIds[0]));
        Assert.That(again.ExitCode, Is.EqualTo(1), "a dead letter that is gone is reported");
        Assert.That(again.Output, Does.Contain("No dead letter " + deadIds[0]));

        var purgeOne = await RunAsync(Connection("dlq", "purge", deadIds[1], "--yes"));
        Assert.That(purgeOne.ExitCode, Is.EqualTo(0), purgeOne.Error);
        Assert.That(purgeOne.Output, Does.Contain("Purged 1 of 1"));
        Assert.That((await db.StreamRangeAsync(keys.Dead)).Select(e => (string)e.Id!), Is.EqualTo(new[] { deadIds[2] }));

        var purgeAll = await RunAsync(Connection("dlq", "purge", "--all", "--yes"));
        Assert.That(purgeAll.ExitCode, Is.EqualTo(0), purgeAll.Error);
        Assert.That(purgeAll.Output, Does.Contain("Purged 1 dead letter(s)."));
        Assert.That(await db.KeyExistsAsync(keys.Dead), Is.False);
    }

    [Test]
    public async Task Dlq_replay_all_announces_every_dead_letter_again()
    {
        var options = TestOptions.For();
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        for (var i = 0; i < 3; i++)
        {
            await db.StreamAddAsync(keys.Dead, [new("lbs-id", $"{i + 1}-0"), new("reason", "r"), new("original.lbs-input", $$"""{"DataStreamName":"again-{{i}}"}""")]);
        }

        var run = await RunAsync("dlq", "replay", "--all", "--yes", "--redis", SharedRedis.Server.ConnectionString, "--service", options.ServiceName!);

        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(run.Output, Does.Contain("3 replayed."));
        Assert.That(await db.StreamLengthAsync(keys.Dead), Is.Zero);
        var names = (await db.StreamRangeAsync(keys.Lbs)).Select(e => (string?)e[LbsInputMessage.FieldName]);
        Assert.That(names, Is.EqualTo(new[] { """{"DataStreamName":"again-0"}""", """{"DataStreamName":"again-1"}""", """{"DataStreamName":"again-2"}""" }));
    }

    [Test]
    public async Task Release_takes_the_stream_from_its_owner_and_reports_a_stream_without_owner()
    {
        var options = TestOptions.For(consumerId: "stuck-worker");
        var keys = StreamKeys.For(options);
        await using var consumer = await TestConsumer.StartAsync(Redis, options);
        await new StreamPublisher(Redis, options).AddStreamAsync("stuck-stream");
        await Eventually.AssertAsync(() => consumer.Owned.Count == 1, TimeSpan.FromSeconds(10), "the consumer owns the stream");
        var lease = consumer.Owned.Single();

        var run = await RunAsync("release", "stuck-stream", "--yes", "--redis", SharedRedis.Server.ConnectionString, "--service", options.ServiceName!);

        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(run.Output, Does.Contain($"Released stuck-stream (LBS id {lease.IdInLbs}) from stuck-worker"));
        Assert.That(await Redis.GetDatabase().HashExistsAsync(keys.Owners, lease.IdInLbs), Is.False, "the ownership record is gone from Redis");
        Assert.That(await Redis.GetDatabase().SortedSetScoreAsync(keys.Free, lease.IdInLbs), Is.Not.Null, "the stream is free for peers");
        Assert.ThrowsAsync<StreamOwnershipLostException>(() => lease.CheckpointAsync("1-0"), "the old owner's next write is refused");

        var missing = await RunAsync("release", "no-such-stream", "-y", "--redis", SharedRedis.Server.ConnectionString, "--service", options.ServiceName!);
        Assert.That(missing.ExitCode, Is.EqualTo(1));
        Assert.That(missing.Output, Does.Contain("Stream no-such-stream has no owner"));
    }

    [Test]
    public async Task Wrong_command_lines_exit_2_with_a_message_and_an_unreachable_redis_exits_3()
    {
        var noService = await RunAsync("status", "--redis", SharedRedis.Server.ConnectionString);
        Assert.That(noService.ExitCode, Is.EqualTo(2));
        Assert.That(noService.Error, Does.Contain("--service").And.Contain("RSTREAMS_SERVICE"));

        var noRedis = await RunAsync("status", "--service", "svc");
        Assert.That(noRedis.ExitCode, Is.EqualTo(2));
        Assert.That(noRedis.Error, Does.Contain("RSTREAMS_REDIS"));

        var unknown = await RunAsync("stauts", "--service", "svc", "--redis", SharedRedis.Server.ConnectionString);
        Assert.That(unknown.ExitCode, Is.EqualTo(2));
        Assert.That(unknown.Error, Does.Contain("'stauts'"));

        var both = await RunAsync("dlq", "purge", "1-0", "--all", "--service", "svc", "--redis", SharedRedis.Server.ConnectionString);
        Assert.That(both.ExitCode, Is.EqualTo(2));
        Assert.That(both.Error, Does.Contain("ids or --all"));

        var help = await RunAsync("--help");
        Assert.That(help.ExitCode, Is.EqualTo(0));
        Assert.That(help.Output, Does.Contain("status").And.Contain("owners").And.Contain("dlq").And.Contain("release").And.Contain("--tls-ca").And.Contain("--output"));

        var badCount = await RunAsync("owners", "--count", "0", "--service", "svc", "--redis", SharedRedis.Server.ConnectionString);
        Assert.That(badCount.ExitCode, Is.EqualTo(2));
        Assert.That(badCount.Error, Does.Contain("--count must be at least 1"));

        // The password never on the command line: refused before connecting, without echoing it.
        var inArgv = await RunAsync("status", "--service", "svc", "--redis", $"{SharedRedis.Server.EndPoint},password=hunter2-secret");
        Assert.That(inArgv.ExitCode, Is.EqualTo(2));
        Assert.That(inArgv.Error, Does.Contain("--password-file").And.Contain("RSTREAMS_PASSWORD"));
        Assert.That(inArgv.Error + inArgv.Output, Does.Not.Contain("hunter2-secret"));

        // A port nothing listens on: the tool says it cannot connect and never prints the password.
        var closedPort = LocalRedisProcess.FreePort();
        var unreachable = await RunAsync(new Dictionary<string, string?> { ["RSTREAMS_PASSWORD"] = "hunter2-secret" }, "status", "--service", "svc", "--redis", $"127.0.0.1:{closedPort},connectTimeout=1000");
        Assert.That(unreachable.ExitCode, Is.EqualTo(3), unreachable.Output);
        Assert.That(unreachable.Error, Does.Contain($"cannot connect to Redis at 127.0.0.1:{closedPort}"));
        Assert.That(unreachable.Error + unreachable.Output, Does.Not.Contain("hunter2-secret"));
    }

    internal sealed record CliRun(int ExitCode, string Output, string Error);

    internal static Task<CliRun> RunAsync(params string[] args) => RunAsync(new Dictionary<string, string?>(), args);

    internal static Task<CliRun> RunAsync(IReadOnlyDictionary<string, string?> environment, params string[] args) => RunWithTerminalAsync(environment, null, args);

    /// <summary>Runs the tool in-process; <paramref name="terminal"/> is what the operator types (null: no terminal).</summary>
    internal static async Task<CliRun> RunWithTerminalAsync(IReadOnlyDictionary<string, string?> environment, string? terminal, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        console.Profile.Width = 240;
        var cli = new CliConsole(console, error, name => environment.GetValueOrDefault(name), terminal is null ? null : new StringReader(terminal), _ => null);
        var exitCode = await CliApp.RunAsync(args, cli);
        await TestContext.Out.WriteLineAsync($"$ rstreams {string.Join(' ', args)}\n{output}{error}(exit {exitCode})");
        return new CliRun(exitCode, output.ToString(), error.ToString());
    }

    /// <summary>The cells of the first table row whose first cell is <paramref name="firstCell"/> (or, with an index, the row after a header row).</summary>
    internal static string[] Row(string output, string firstCell, int? rowAfterHeader = null)
    {
        var rows = output.Split('\n')
            .Where(l => l.TrimStart().StartsWith('│'))
            .Select(l => l.Trim().Trim('│').Split('│').Select(c => c.Trim()).ToArray())
            .ToList();
        if (rowAfterHeader is { } index)
        {
            var header = rows.FindIndex(r => r[0] == firstCell);
            Assert.That(header, Is.GreaterThanOrEqualTo(0), $"No table with the header '{firstCell}' in:\n{output}");
            return rows[header + 1 + index];
        }

        return rows.FirstOrDefault(r => r[0] == firstCell) ?? throw new AssertionException($"No row '{firstCell}' in:\n{output}");
    }
}
