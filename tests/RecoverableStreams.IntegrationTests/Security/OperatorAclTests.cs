using System.Text.Json;
using RecoverableStreams.Administration;
using RecoverableStreams.IntegrationTests.Administration;
using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Security;

/// <summary>
/// The operator users of docs/SECURITY.md (1.4), created exactly as written there, run every <c>rstreams</c> command
/// of their role against a real Redis with ACLs: the reader reads everything and is refused every write (exit 4,
/// nothing changed); the writer runs every command. Redis' <c>ACL LOG</c> shows nothing else refused but the client's
/// optional connect probes. deploy/redis-acl/operators.acl must hold the same users.
/// </summary>
[NonParallelizable]
public sealed class OperatorAclTests
{
    private const string Password = "op-acl-pw-4b1e";
    private static readonly string[] ConnectProbes = ["info", "config|get", "cluster|nodes", "cluster|slots", "client|setinfo"];
    private RedisServer _server = null!;
    private ConnectionMultiplexer _admin = null!;

    [OneTimeSetUp]
    public async Task StartServerAsync()
    {
        _server = await RedisServer.StartAsync("--appendonly", "no");
        _admin = await _server.ConnectAsync();
    }

    [OneTimeTearDown]
    public async Task StopServerAsync()
    {
        await _admin.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Test]
    public Task The_read_only_and_the_writing_operator_of_a_service_run_their_commands_and_nothing_more() =>
        RunRolesAsync(1, "ACL SETUSER orders-operator-read ", "ACL SETUSER orders-operator ");

    [Test]
    public Task The_operators_of_a_partitioned_service_run_their_commands_and_nothing_more() =>
        RunRolesAsync(3, "ACL SETUSER orders-partitioned-operator-read ", "ACL SETUSER orders-partitioned-operator ");

    [Test]
    public void The_deploy_acl_file_holds_the_documented_operator_users()
    {
        var file = RepositoryDocs.Read("deploy/redis-acl/operators.acl").Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("user ", StringComparison.Ordinal)).ToArray();
        var documented = new[] { "orders-operator-read ", "orders-operator ", "orders-partitioned-operator-read ", "orders-partitioned-operator " }
            .Select(u => RepositoryDocs.SecurityLine("ACL SETUSER " + u).Replace("ACL SETUSER ", "user ", StringComparison.Ordinal).Replace(">CHANGE-ME", "#CHANGE-ME-SHA256", StringComparison.Ordinal))
            .ToArray();
        Assert.That(file, Is.EqualTo(documented));
    }

    private async Task RunRolesAsync(int partitions, string readerLine, string writerLine)
    {
        var service = "op" + Guid.NewGuid().ToString("N")[..8];
        var reader = await CreateUserAsync(readerLine, service);
        var writer = await CreateUserAsync(writerLine, service);

        // A consumer (on the unrestricted connection) owns three streams and dead-letters two.
        var options = TestOptions.For(service, consumerId: "worker", lease: TimeSpan.FromSeconds(30));
        options.Partitions = partitions;
        await using var consumer = await TestConsumer.StartAsync(_admin, options);
        var publisher = new StreamPublisher(_admin, options);
        foreach (var name in new[] { "s-held", "s-dead-1", "s-dead-2" })
        {
            await publisher.AddStreamAsync(name);
        }

        await Eventually.AssertAsync(() => consumer.Owned.Count == 3, TimeSpan.FromSeconds(15), "the consumer owns the three streams");
        foreach (var lease in consumer.Owned.Where(l => l.DataStreamName.StartsWith("s-dead", StringComparison.Ordinal)).ToArray())
        {
            await lease.DeadLetterAsync("bad");
        }

        var admin = new RecoverableStreamsAdmin(_admin, options);
        var deadIds = (await admin.GetDeadLettersAsync()).Items.Select(d => d.Id).ToArray();
        Assert.That(deadIds, Has.Length.EqualTo(2));
        await _admin.GetServer(_server.EndPoint).ExecuteAsync("ACL", "LOG", "RESET");

        // The reader: every read works; every write is refused with exit 4 and changes nothing.
        Assert.That((await RunAsync(reader, service, partitions, "status")).ExitCode, Is.Zero);
        var owners = await RunAsync(reader, service, partitions, "owners", "-o", "json");
        Assert.That(owners.ExitCode, Is.Zero, owners.Error);
        using (var json = JsonDocument.Parse(owners.Output))
        {
            Assert.That(json.RootElement.GetProperty("owners").EnumerateArray().Select(o => o.GetProperty("dataStreamName").GetString()), Is.EqualTo(new[] { "s-held" }));
        }

        var list = await RunAsync(reader, service, partitions, "dlq", "list", "-o", "json");
        Assert.That(list.ExitCode, Is.Zero, list.Error);
        Assert.That(list.Output, Does.Contain(deadIds[0]).And.Contain(deadIds[1]));
        foreach (var write in new[] { new[] { "release", "s-held", "--yes" }, ["dlq", "replay", deadIds[0]], ["dlq", "purge", deadIds[0], "--yes"], ["dlq", "purge", "--all", "--yes"] })
        {
            var refused = await RunAsync(reader, service, partitions, write);
            Assert.That(refused.ExitCode, Is.EqualTo(4), $"the read-only user is refused '{string.Join(' ', write)}': {refused.Error}");
            Assert.That(refused.Error, Does.Contain("refused"));
        }

        Assert.That((await admin.GetDeadLettersAsync()).Items.Select(d => d.Id), Is.EqualTo(deadIds), "the reader changed no dead letter");
        Assert.That((await admin.GetOwnersAsync()).Select(o => o.DataStreamName), Is.EqualTo(new[] { "s-held" }), "the reader released nothing");
        var readerRefused = await RefusedAsync(reader);
        Assert.That(readerRefused.Except(ConnectProbes), Is.Not.Empty.And.All.Matches<string>(c => c is "evalsha" or "eval" or "script|load" or "xdel" or "multi" or "exec" or "del" or "unlink"),
            "the reader is refused writes only: " + string.Join(", ", readerRefused));

        // The writer: every command.
        foreach (var command in new[] { new[] { "status" }, ["owners"], ["dlq", "list"], ["dlq", "replay", deadIds[0]], ["dlq", "purge", deadIds[1], "--yes"], ["release", "s-held", "--yes"], ["dlq", "purge", "--all", "--yes"] })
        {
            var run = await RunAsync(writer, service, partitions, command);
            Assert.That(run.ExitCode, Is.Zero, $"the writing operator runs '{string.Join(' ', command)}': {run.Error}");
        }

        Assert.That((await admin.GetStatusAsync()).DeadLetters, Is.Zero, "replayed, purged");
        var writerRefused = await RefusedAsync(writer);
        Assert.That(writerRefused.Except(ConnectProbes), Is.Empty, "nothing the writer needs is refused: " + string.Join(", ", writerRefused));
    }

    private async Task<string> CreateUserAsync(string documentedPrefix, string service)
    {
        var line = RepositoryDocs.SecurityLine(documentedPrefix).Replace("orders", service, StringComparison.Ordinal).Replace(">CHANGE-ME", ">" + Password, StringComparison.Ordinal);
        var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(words[0] + " " + words[1], Is.EqualTo("ACL SETUSER"));
        await _admin.GetServer(_server.EndPoint).ExecuteAsync("ACL", words.Skip(1).Cast<object>().ToArray());
        return words[2];
    }

    private Task<CliTests.CliRun> RunAsync(string user, string service, int partitions, params string[] command) =>
        CliTests.RunAsync(
            new Dictionary<string, string?> { ["RSTREAMS_PASSWORD"] = Password },
            [.. command, "--redis", _server.EndPoint + ",connectTimeout=5000", "--user", user, "--service", service, "--partitions", partitions.ToString(System.Globalization.CultureInfo.InvariantCulture)]);

    private async Task<string[]> RefusedAsync(string user)
    {
        var log = (RedisResult[])(await _admin.GetServer(_server.EndPoint).ExecuteAsync("ACL", "LOG", "128"))!;
        var refused = new List<string>();
        foreach (var entry in log)
        {
            var fields = entry.ToDictionary();
            if ((string?)fields["username"] == user)
            {
                refused.Add((string)fields["object"]!);
                await TestContext.Out.WriteLineAsync($"ACL LOG: {user} {fields["reason"]} {fields["object"]}");
            }
        }

        return refused.Distinct().ToArray();
    }
}
