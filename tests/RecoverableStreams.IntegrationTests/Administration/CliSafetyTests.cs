using System.Text.Json;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.IntegrationTests.Security;
using RecoverableStreams.Keys;
using static RecoverableStreams.IntegrationTests.Administration.CliTests;

namespace RecoverableStreams.IntegrationTests.Administration;

/// <summary>
/// <c>rstreams</c> safe by default: confirmation of destructive commands, the password kept off the command line, TLS
/// with a private CA, escaped names, scripts' JSON and partitioned services. Exit codes: 0 ok, 1 not found, 2 usage,
/// 3 connection or login, 4 refused or aborted, 5 Redis failed.
/// </summary>
public sealed class CliSafetyTests : SharedRedisTest
{
    private static readonly Dictionary<string, string?> NoEnvironment = [];

    [Test]
    public async Task Destructive_commands_change_nothing_unless_confirmed_or_given_yes()
    {
        var options = TestOptions.For(consumerId: "held");
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        await db.StreamAddAsync(keys.Dead, [new("lbs-id", "1-0"), new("reason", "r")]);
        await using var consumer = await TestConsumer.StartAsync(Redis, options);
        await new StreamPublisher(Redis, options).AddStreamAsync("held-stream");
        await Eventually.AssertAsync(() => consumer.Owned.Count == 1, TimeSpan.FromSeconds(10), "the consumer owns the stream");
        string[] With(params string[] args) => [.. args, "--redis", SharedRedis.Server.ConnectionString, "--service", options.ServiceName!];

        // No terminal and no --yes: refused, with the way out.
        var purge = await RunWithTerminalAsync(NoEnvironment, null, With("dlq", "purge", "--all"));
        Assert.That(purge.ExitCode, Is.EqualTo(4));
        Assert.That(purge.Error, Does.Contain("--yes"));
        var release = await RunWithTerminalAsync(NoEnvironment, null, With("release", "held-stream"));
        Assert.That(release.ExitCode, Is.EqualTo(4));
        var replay = await RunWithTerminalAsync(NoEnvironment, null, With("dlq", "replay", "--all"));
        Assert.That(replay.ExitCode, Is.EqualTo(4));
        Assert.That(await db.StreamLengthAsync(keys.Dead), Is.EqualTo(1), "nothing was purged or replayed");
        Assert.That(await db.HashLengthAsync(keys.Owners), Is.EqualTo(1), "nothing was released");

        // A terminal: "n" (or anything but y) declines; "y" does it.
        var declined = await RunWithTerminalAsync(NoEnvironment, "n\n", With("dlq", "purge", "--all"));
        Assert.That(declined.ExitCode, Is.EqualTo(4));
        Assert.That(declined.Error, Does.Contain("Delete every dead letter of " + options.ServiceName + " for good? [y/N]"));
        Assert.That(await db.StreamLengthAsync(keys.Dead), Is.EqualTo(1));
        var confirmed = await RunWithTerminalAsync(NoEnvironment, "y\n", With("dlq", "purge", "--all"));
        Assert.That(confirmed.ExitCode, Is.EqualTo(0), confirmed.Error);
        Assert.That(await db.KeyExistsAsync(keys.Dead), Is.False);

        var yes = await RunWithTerminalAsync(NoEnvironment, null, With("release", "held-stream", "--yes"));
        Assert.That(yes.ExitCode, Is.EqualTo(0), yes.Error);
        Assert.That(await db.HashLengthAsync(keys.Owners), Is.Zero.Or.EqualTo(1), "released (a peer may have taken it again)");
        Assert.That(yes.Output, Does.Contain("Released held-stream"));
    }

    [Test]
    public async Task Names_with_control_characters_are_escaped_in_tables_and_kept_exact_in_json()
    {
        var options = TestOptions.For(consumerId: "esc");
        var hostile = "evil\u001b]0;owned\u0007\u001b[2J\r\nname\u202Etxt.exe";
        await using var consumer = await TestConsumer.StartAsync(Redis, options);
        await new StreamPublisher(Redis, options).AddStreamAsync(hostile);
        await Eventually.AssertAsync(() => consumer.Owned.Count == 1, TimeSpan.FromSeconds(10), "the consumer owns the stream");

        var table = await RunAsync("owners", "--redis", SharedRedis.Server.ConnectionString, "--service", options.ServiceName!);
        Assert.That(table.ExitCode, Is.EqualTo(0), table.Error);
        Assert.That(table.Output.IndexOfAny(['\u001b', '\u0007', '\r', '\u202E']), Is.EqualTo(-1), table.Output);
        Assert.That(table.Output, Does.Contain(@"evil\x1b]0;owned\x07\x1b[2J\x0d\x0aname\u{202e}txt.exe"));

        var json = await RunAsync("owners", "-o", "json", "--redis", SharedRedis.Server.ConnectionString, "--service", options.ServiceName!);
        Assert.That(json.ExitCode, Is.EqualTo(0), json.Error);
        Assert.That(json.Output.IndexOfAny(['\u001b', '\u0007', '\r', '\u202E']), Is.EqualTo(-1), "JSON escapes control characters itself");
        using var document = JsonDocument.Parse(json.Output);
        Assert.That(document.RootElement.GetProperty("owners")[0].GetProperty("dataStreamName").GetString(), Is.EqualTo(hostile));
        Assert.That(document.RootElement.GetProperty("total").GetInt64(), Is.EqualTo(1));
    }

    [Test]
    public async Task A_partitioned_service_is_read_with_partitions_and_an_empty_read_says_so()
    {
        var options = TestOptions.For(consumerId: "parted");
        options.Partitions = 3;
        await using var consumer = await TestConsumer.StartAsync(Redis, options);
        var publisher = new StreamPublisher(Redis, options);
        var names = Enumerable.Range(0, 6).Select(i => $"part-{i}").ToArray();
        foreach (var name in names)
        {
            await publisher.AddStreamAsync(name);
        }

        await Eventually.AssertAsync(() => consumer.Owned.Count == names.Length, TimeSpan.FromSeconds(15), "the consumer owns every stream");

        var json = await RunAsync(new Dictionary<string, string?> { ["RSTREAMS_PARTITIONS"] = "3" }, "owners", "--output", "json", "--count", "4", "--redis", SharedRedis.Server.ConnectionString, "--service", options.ServiceName!);
        Assert.That(json.ExitCode, Is.EqualTo(0), json.Error);
        using var document = JsonDocument.Parse(json.Output);
        Assert.That(document.RootElement.GetProperty("total").GetInt64(), Is.EqualTo(6));
        Assert.That(document.RootElement.GetProperty("more").GetInt64(), Is.EqualTo(2), "a bounded read says how many more");
        Assert.That(document.RootElement.GetProperty("owners").GetArrayLength(), Is.EqualTo(4));

        var status = await RunAsync("status", "--partitions", "3", "--redis", SharedRedis.Server.ConnectionString, "--service", options.ServiceName!);
        Assert.That(status.Output, Does.Contain("3 partitions"));
        Assert.That(Row(status.Output, "Entries in LBS", 0)[3], Is.EqualTo("6"), status.Output);

        // Read as one partition, the service looks empty: the tool says why instead of showing nothing silently.
        var single = await RunAsync("status", "--redis", SharedRedis.Server.ConnectionString, "--service", options.ServiceName!);
        Assert.That(single.Error, Does.Contain("--partitions"));
    }

    [Test]
    public async Task The_password_comes_from_a_file_or_the_environment_and_a_wrong_one_exits_3()
    {
        await using var server = await RedisServer.StartAsync("--requirepass", "s3cret-pass");
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, "s3cret-pass\n");
            var service = TestOptions.NewServiceName();
            var fromFile = await RunAsync("status", "--redis", server.EndPoint, "--password-file", file, "--service", service);
            Assert.That(fromFile.ExitCode, Is.EqualTo(0), fromFile.Error);

            var fromEnvironment = await RunAsync(new Dictionary<string, string?> { ["RSTREAMS_PASSWORD"] = "s3cret-pass" }, "status", "--redis", server.EndPoint, "--service", service);
            Assert.That(fromEnvironment.ExitCode, Is.EqualTo(0), fromEnvironment.Error);

            var wrong = await RunAsync(new Dictionary<string, string?> { ["RSTREAMS_PASSWORD"] = "not-it" }, "status", "--redis", server.EndPoint + ",connectTimeout=2000", "--service", service);
            Assert.That(wrong.ExitCode, Is.EqualTo(3), wrong.Output + wrong.Error);
            Assert.That(wrong.Error, Does.Not.Contain("not-it"));

            var none = await RunAsync("status", "--redis", server.EndPoint + ",connectTimeout=2000", "--service", service);
            Assert.That(none.ExitCode, Is.EqualTo(3), "no password: the server refuses");
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public async Task Tls_with_a_private_ca_works_with_tls_ca_and_is_refused_without_it()
    {
        using var certificates = await ThrowawayCertificates.CreateAsync();
        await using var server = await RedisServer.StartTlsAsync(new RedisTlsFiles(certificates.ServerCertificate, certificates.ServerKey, certificates.CaCertificate));
        var service = TestOptions.NewServiceName();
        var endPoint = $"{server.EndPoint},sslHost=localhost,connectTimeout=5000";

        var trusted = await RunAsync("status", "--redis", endPoint, "--tls-ca", certificates.CaCertificate, "--service", service);
        Assert.That(trusted.ExitCode, Is.EqualTo(0), trusted.Error);
        Assert.That(trusted.Output, Does.Contain("Service " + service));

        var untrusted = await RunAsync("status", "--redis", endPoint, "--tls", "--service", service);
        Assert.That(untrusted.ExitCode, Is.EqualTo(3), "the machine's CAs do not know the private CA");

        var missing = await RunAsync("status", "--redis", endPoint, "--tls-ca", "/nonexistent/ca.crt", "--service", service);
        Assert.That(missing.ExitCode, Is.EqualTo(2));
    }
}
