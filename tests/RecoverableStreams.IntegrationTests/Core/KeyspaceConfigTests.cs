using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>The server's notify-keyspace-events setting: merged, never reduced; its absence is only a warning.</summary>
[Parallelizable(ParallelScope.Self)]
public sealed class KeyspaceConfigTests
{
    private const int KeyspaceConfigUnavailableEventId = 104;

    [Test]
    public async Task Two_consumers_starting_against_Eg_keep_E_and_g_and_add_K_t_x()
    {
        await using var server = await RedisServer.StartAsync("--notify-keyspace-events", "Eg");
        await using var redis = await server.ConnectAsync();
        var admin = redis.GetServer(server.EndPoint);
        var initial = await FlagsAsync(admin);
        Assert.That(initial, Does.Contain("E").And.Contain("g").And.Not.Contain("K"), "the server starts with E and g only");

        var service = TestOptions.NewServiceName();
        var starts = Enumerable.Range(0, 2).Select(i => TestConsumer.StartAsync(redis, TestOptions.For(service, consumerId: $"starter-{i}"))).ToArray();
        await using var first = await starts[0];
        await using var second = await starts[1];

        var flags = await FlagsAsync(admin);
        Assert.Multiple(() =>
        {
            Assert.That(first.Client.IsRunning && second.Client.IsRunning, Is.True, "both consumers started");
            foreach (var flag in "EgKtx")
            {
                Assert.That(flags, Does.Contain(flag.ToString()), $"'{flag}' is set (flags '{flags}')");
            }
        });
    }

    [Test]
    public async Task Without_allowAdmin_start_succeeds_with_a_warning_and_failover_still_works()
    {
        await using var redis = await SharedRedis.Server.ConnectAsync(allowAdmin: false);
        await StartsWithWarningAndFailsOverAsync(redis);
    }

    [Test]
    public async Task With_CONFIG_renamed_away_start_succeeds_with_a_warning_and_failover_still_works()
    {
        await using var server = await RedisServer.StartAsync("--rename-command", "CONFIG", "");
        await using var redis = await server.ConnectAsync();
        await StartsWithWarningAndFailsOverAsync(redis);
    }

    private static async Task StartsWithWarningAndFailsOverAsync(ConnectionMultiplexer redis)
    {
        var service = TestOptions.NewServiceName();
        var logs = new LogCapture();
        await using var first = await TestConsumer.StartAsync(redis, TestOptions.For(service, consumerId: "first", autoClaim: true), logs.Factory);
        Assert.That(logs.WithEventId(KeyspaceConfigUnavailableEventId), Is.Not.Empty,
            "a KeyspaceConfigUnavailable warning is logged. Logs: " + string.Join(" / ", logs.Records));
        Assert.That(logs.WithEventId(KeyspaceConfigUnavailableEventId).Select(r => r.Level), Is.All.EqualTo(Microsoft.Extensions.Logging.LogLevel.Warning));

        var id = await new StreamPublisher(redis, TestOptions.For(service)).AddStreamAsync("no-config-session");
        await Eventually.AssertAsync(() => first.Owned.Any(l => l.IdInLbs == id), TimeSpan.FromSeconds(15), "the first consumer owns the stream");
        await using var second = await TestConsumer.StartAsync(redis, TestOptions.For(service, consumerId: "second", autoClaim: true), logs.Factory);
        await first.CrashAsync();
        await Eventually.AssertAsync(() => second.Owned.Any(l => l.IdInLbs == id), TimeSpan.FromSeconds(20), "the second consumer takes the stream over");
        Assert.That(second.Client.IsRunning, Is.True);
    }

    private static async Task<string> FlagsAsync(IServer server) =>
        (await server.ConfigGetAsync("notify-keyspace-events")).Single().Value;
}
