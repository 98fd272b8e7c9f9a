using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using RecoverableStreams.Hosting;
using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

// The scripted handler throws a StackExchange.Redis exception the way the library sees one; its simplest constructor is obsolete.
#pragma warning disable CS0618

namespace RecoverableStreams.IntegrationTests.Hosting;

/// <summary>
/// A Redis that refuses for its configuration (an ACL user without a command the handler needs; the same path serves
/// OOM and NOAUTH) is an outage, not a failure of the stream: no attempt is counted and nothing is dead-lettered while
/// it lasts, and the stream is handled once an operator fixes it.
/// </summary>
public sealed class ConfigurationOutageTests
{
    [Test]
    public async Task A_handler_refused_by_an_ACL_spends_no_attempt_and_is_not_dead_lettered_then_runs_once_the_ACL_is_fixed()
    {
        // A private server: the test changes its ACL.
        await using var server = await RedisServer.StartAsync();
        await using var admin = await server.ConnectAsync();
        var db = admin.GetDatabase();
        await db.ExecuteAsync("ACL", "SETUSER", "app", "on", ">app-secret", "~*", "&*", "+@all", "-xadd");
        var service = TestOptions.NewServiceName();
        // Two attempts: on a build that counts this refusal as a failure, the second visit dead-letters the stream.
        var settings = new Dictionary<string, string?> { ["MaxDeliveryAttempts"] = "2" };
        var builder = TestHosts.NewBuilder(service, connection: server.ConnectionString, settings: settings);
        var output = new AppOutput(server.ConnectionString + ",user=app,password=app-secret");
        builder.Services.AddSingleton(output);
        builder.Services.AddRecoverableRedisStreams().AddHandler<WritingHandler>();
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            await TestHosts.Publisher(admin, service).AddStreamAsync("orders-1");

            // Four refusals: twice what MaxDeliveryAttempts allows.
            await Eventually.AssertAsync(() => output.Refusals.Count >= 4, TimeSpan.FromSeconds(30), "the handler is retried while the ACL refuses it");
            Assert.Multiple(async () =>
            {
                Assert.That(output.Refusals, Is.All.StartWith("NOPERM"), "each failure is the ACL's refusal");
                Assert.That(output.Attempts, Is.All.EqualTo(1), "no refusal spent an attempt");
                Assert.That(await db.HashLengthAsync(TestHosts.AttemptsKey(service)), Is.Zero, "no failed attempt is counted in Redis");
                Assert.That(await db.StreamLengthAsync(TestHosts.DeadLetterKey(service)), Is.Zero, "nothing is dead-lettered");
                Assert.That(await db.StreamLengthAsync(TestHosts.LbsKey(service)), Is.EqualTo(1), "the stream is still announced");
            });

            await db.ExecuteAsync("ACL", "SETUSER", "app", "+xadd");

            await Eventually.AssertAsync(async () => await db.StreamLengthAsync(TestHosts.LbsKey(service)) == 0, TimeSpan.FromSeconds(30),
                "once the ACL is fixed the stream is handled and completed");
            Assert.Multiple(async () =>
            {
                Assert.That(await db.StreamLengthAsync("out:orders-1"), Is.EqualTo(1), "the handler's write went through once");
                Assert.That(await db.StreamLengthAsync(TestHosts.DeadLetterKey(service)), Is.Zero);
            });
        }
        finally
        {
            await host.StopAsync();
            output.Dispose();
        }
    }

    [Test]
    public async Task A_refusal_that_outlasts_MaxConfigurationOutageRetryDuration_releases_the_stream_and_never_dead_letters_it()
    {
        var service = TestOptions.NewServiceName();
        // The transient bound is far away: only the configuration bound can release the stream within the test.
        var settings = new Dictionary<string, string?>
        {
            ["MaxDeliveryAttempts"] = "1", ["MaxOutageRetryDuration"] = "00:10:00", ["MaxConfigurationOutageRetryDuration"] = "00:00:02",
        };
        var refused = new OutageTests.Script([.. Enumerable.Repeat<Func<Exception>>(() => new RedisServerException("NOPERM this user has no permissions to run the 'xadd' command"), 1000)]);
        var healthy = new OutageTests.Script([]);
        await using var redis = await SharedRedis.Server.ConnectAsync();
        using var first = Build(service, settings, refused);
        await first.StartAsync();
        Microsoft.Extensions.Hosting.IHost? second = null;
        try
        {
            await TestHosts.Publisher(redis, service).AddStreamAsync("refused-forever");
            await Eventually.AssertAsync(() => refused.Visits.Count >= 2, TimeSpan.FromSeconds(20), "the refused handler is retried in place");

            second = Build(service, settings, healthy);
            await second.StartAsync();
            await Eventually.AssertAsync(async () => await redis.GetDatabase().StreamLengthAsync(TestHosts.LbsKey(service)) == 0, TimeSpan.FromSeconds(40),
                "after MaxConfigurationOutageRetryDuration the stream is released, and the other consumer completes it");
            Assert.Multiple(async () =>
            {
                Assert.That(healthy.Visits, Has.Count.EqualTo(1));
                Assert.That(await redis.GetDatabase().StreamLengthAsync(TestHosts.DeadLetterKey(service)), Is.Zero, "a refusal never dead-letters");
            });
        }
        finally
        {
            await first.StopAsync();
            if (second is not null)
            {
                await second.StopAsync();
                second.Dispose();
            }
        }
    }

    private static Microsoft.Extensions.Hosting.IHost Build(string service, Dictionary<string, string?> settings, OutageTests.Script script)
    {
        var builder = TestHosts.NewBuilder(service, settings: settings);
        builder.Services.AddSingleton(script);
        builder.Services.AddRecoverableRedisStreams().AddHandler<OutageTests.ScriptedHandler>();
        return builder.Build();
    }

    /// <summary>The application's own Redis connection, as the ACL user <c>app</c>.</summary>
    internal sealed class AppOutput(string configuration) : IDisposable
    {
        private readonly Lazy<ConnectionMultiplexer> _redis = new(() => ConnectionMultiplexer.Connect(configuration));

        public ConcurrentQueue<string> Refusals { get; } = new();

        public ConcurrentQueue<int> Attempts { get; } = new();

        public IDatabase Database => _redis.Value.GetDatabase();

        public void Dispose()
        {
            if (_redis.IsValueCreated)
            {
                _redis.Value.Dispose();
            }
        }
    }

    internal sealed class WritingHandler(AppOutput output) : IStreamWorkHandler
    {
        public async Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken)
        {
            output.Attempts.Enqueue(context.Attempt);
            try
            {
                await output.Database.StreamAddAsync("out:" + context.DataStreamName, "done", 1);
            }
            catch (RedisServerException ex)
            {
                output.Refusals.Enqueue(ex.Message);
                throw;
            }
        }
    }
}
