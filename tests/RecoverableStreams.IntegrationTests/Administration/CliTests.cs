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

        var run = await RunAsync("status", "--redis", SharedRedis.Server.ConnectionString, "--service", options.ServiceName!);

        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(run.Output, Does.Contain("Service " + options.ServiceName));
        Assert.That(Row(run.Output, "Entries in LBS", 0), Is.EqualTo(new[] { "2", "0", "2", "2", "0" }), run.Output);
        var consumerRow = Row(run.Output, "worker-a");
        Assert.That(consumerRow[^1], Is.EqualTo("2"), run.Output);
        Assert.That(consumerRow[^2], Is.EqualTo("live"), run.Output);
        Assert.That(consumerRow[3], Does.EndWith(" s"), run.Output);
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

        var purgeOne = await RunAsync(Connection("dlq", "purge", deadIds[1]));
        Assert.That(purgeOne.ExitCode, Is.EqualTo(0), purgeOne.Error);
        Assert.That(purgeOne.Output, Does.Contain("Purged 1 of 1"));
        Assert.That((await db.StreamRangeAsync(keys.Dead)).Select(e => (string)e.Id!), Is.EqualTo(new[] { deadIds[2] }));

        var purgeAll = await RunAsync(Connection("dlq", "purge", "--all"));
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

        var run = await RunAsync("dlq", "replay", "--all", "--redis", SharedRedis.Server.ConnectionString, "--service", options.ServiceName!);

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

        var run = await RunAsync("release", "stuck-stream", "--redis", SharedRedis.Server.ConnectionString, "--service", options.ServiceName!);

        Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
        Assert.That(run.Output, Does.Contain($"Released stuck-stream (LBS id {lease.IdInLbs}) from stuck-worker"));
        Assert.That(await Redis.GetDatabase().HashExistsAsync(keys.Owners, lease.IdInLbs), Is.False, "the ownership record is gone from Redis");
        Assert.That(await Redis.GetDatabase().SortedSetScoreAsync(keys.Free, lease.IdInLbs), Is.Not.Null, "the stream is free for peers");
        Assert.ThrowsAsync<StreamOwnershipLostException>(() => lease.CheckpointAsync("1-0"), "the old owner's next write is refused");

        var missing = await RunAsync("release", "no-such-stream", "--redis", SharedRedis.Server.ConnectionString, "--service", options.ServiceName!);
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
        Assert.That(unknown.Error, Does.Contain("Unknown command 'stauts'"));

        var both = await RunAsync("dlq", "purge", "1-0", "--all", "--service", "svc", "--redis", SharedRedis.Server.ConnectionString);
        Assert.That(both.ExitCode, Is.EqualTo(2));
        Assert.That(both.Error, Does.Contain("ids or --all"));

        var help = await RunAsync("--help");
        Assert.That(help.ExitCode, Is.EqualTo(0));
        Assert.That(help.Output, Does.Contain("dlq replay <id>... | --all"));

        // A port nothing listens on: the tool says it cannot connect and never prints the password.
        var closedPort = LocalRedisProcess.FreePort();
        var unreachable = await RunAsync("status", "--service", "svc", "--redis", $"127.0.0.1:{closedPort},password=hunter2-secret,connectTimeout=1000");
        Assert.That(unreachable.ExitCode, Is.EqualTo(3), unreachable.Output);
        Assert.That(unreachable.Error, Does.Contain($"cannot connect to Redis at 127.0.0.1:{closedPort}"));
        Assert.That(unreachable.Error + unreachable.Output, Does.Not.Contain("hunter2-secret"));
    }

    private sealed record CliRun(int ExitCode, string Output, string Error);

    private static Task<CliRun> RunAsync(params string[] args) => RunAsync(new Dictionary<string, string?>(), args);

    private static async Task<CliRun> RunAsync(IReadOnlyDictionary<string, string?> environment, params string[] args)
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
        var exitCode = await CliApp.RunAsync(args, console, error, name => environment.GetValueOrDefault(name));
        await TestContext.Out.WriteLineAsync($"$ rstreams {string.Join(' ', args)}\n{output}{error}(exit {exitCode})");
        return new CliRun(exitCode, output.ToString(), error.ToString());
    }

    /// <summary>The cells of the first table row whose first cell is <paramref name="firstCell"/> (or, with an index, the row after a header row).</summary>
    private static string[] Row(string output, string firstCell, int? rowAfterHeader = null)
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
