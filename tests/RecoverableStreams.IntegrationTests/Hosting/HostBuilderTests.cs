using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RecoverableStreams.Hosting;
using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Hosting;

/// <summary>
/// <c>builder.AddRecoverableRedisStreams("name")</c> and its keyed form: which connection is used, several services in
/// one host, and the publisher from DI.
/// </summary>
public sealed class HostBuilderTests
{
    /// <summary>Nothing listens there: a service that used this connection string would never see a stream.</summary>
    private const string Unreachable = "127.0.0.1:1,connectTimeout=200";

    [Test]
    public async Task The_connection_string_beats_an_Aspire_style_multiplexer_registered_for_another_server()
    {
        // As after Aspire's AddRedisClient("cache") and AddKeyedRedisClient("cache"): a multiplexer for the cache
        // server, unkeyed and keyed. The stream service names its own connection string; that one must be used.
        var service = TestOptions.NewServiceName();
        var seen = new ConcurrentQueue<string>();
        await using var cache = await ConnectionMultiplexer.ConnectAsync(Unreachable + ",abortConnect=false");
        var builder = NewBuilder(new() { ["ConnectionStrings:streams"] = SharedRedis.Server.ConnectionString, ["RecoverableStreams:ServiceName"] = service });
        builder.Services.AddSingleton<IConnectionMultiplexer>(cache);
        builder.Services.AddKeyedSingleton<IConnectionMultiplexer>("cache", cache);
        builder.Services.AddSingleton(seen);
        builder.AddRecoverableRedisStreams("streams").AddHandler<RecordingHandler>();

        await RunAsync(builder, async host =>
        {
            await using var redis = await SharedRedis.Server.ConnectAsync();
            await TestHosts.Publisher(redis, service).AddStreamAsync("aspire-1");
            await Eventually.AssertAsync(() => seen.Contains("aspire-1"), TimeSpan.FromSeconds(20), "the handler runs on ConnectionStrings:streams, not on the cache's multiplexer");
        });
    }

    [Test]
    public async Task The_section_s_Configuration_beats_the_connection_string_and_a_keyed_multiplexer()
    {
        var service = TestOptions.NewServiceName();
        var seen = new ConcurrentQueue<string>();
        await using var other = await ConnectionMultiplexer.ConnectAsync(Unreachable + ",abortConnect=false");
        var builder = NewBuilder(new()
        {
            ["ConnectionStrings:streams"] = Unreachable,
            ["RecoverableStreams:ServiceName"] = service,
            ["RecoverableStreams:Configuration"] = SharedRedis.Server.ConnectionString,
        });
        builder.Services.AddKeyedSingleton<IConnectionMultiplexer>("streams", other);
        builder.Services.AddSingleton(seen);
        builder.AddRecoverableRedisStreams("streams").AddHandler<RecordingHandler>();

        await RunAsync(builder, async host =>
        {
            await using var redis = await SharedRedis.Server.ConnectAsync();
            await TestHosts.Publisher(redis, service).AddStreamAsync("section-1");
            await Eventually.AssertAsync(() => seen.Contains("section-1"), TimeSpan.FromSeconds(20), "the handler runs on the section's Configuration");
        });
    }

    [Test]
    public async Task Without_a_connection_string_a_multiplexer_keyed_with_the_connection_name_beats_an_unkeyed_one()
    {
        var service = TestOptions.NewServiceName();
        var seen = new ConcurrentQueue<string>();
        await using var redis = await SharedRedis.Server.ConnectAsync();
        await using var other = await ConnectionMultiplexer.ConnectAsync(Unreachable + ",abortConnect=false");
        var builder = NewBuilder(new() { ["RecoverableStreams:ServiceName"] = service });
        builder.Services.AddSingleton<IConnectionMultiplexer>(other);
        builder.Services.AddKeyedSingleton<IConnectionMultiplexer>("cache", redis);
        builder.Services.AddSingleton(seen);
        builder.AddRecoverableRedisStreams("cache").AddHandler<RecordingHandler>();

        await RunAsync(builder, async host =>
        {
            await TestHosts.Publisher(redis, service).AddStreamAsync("keyed-1");
            await Eventually.AssertAsync(() => seen.Contains("keyed-1"), TimeSpan.FromSeconds(20), "the handler runs on the keyed connection");
        });
    }

    [Test]
    public async Task The_connection_string_named_by_the_connection_name_is_used_when_no_multiplexer_is_registered()
    {
        var service = TestOptions.NewServiceName();
        var seen = new ConcurrentQueue<string>();
        var builder = NewBuilder(new() { ["ConnectionStrings:streams"] = SharedRedis.Server.ConnectionString, ["RecoverableStreams:ServiceName"] = service });
        builder.Services.AddSingleton(seen);
        builder.AddRecoverableRedisStreams("streams").AddHandler<RecordingHandler>();

        await RunAsync(builder, async host =>
        {
            await using var redis = await SharedRedis.Server.ConnectAsync();
            await TestHosts.Publisher(redis, service).AddStreamAsync("by-name-1");
            await Eventually.AssertAsync(() => seen.Contains("by-name-1"), TimeSpan.FromSeconds(20), "the handler runs on ConnectionStrings:streams");
        });
    }

    [Test]
    public void A_missing_connection_string_names_the_connection_name()
    {
        var builder = NewBuilder(new() { ["RecoverableStreams:ServiceName"] = TestOptions.NewServiceName() });
        builder.AddRecoverableRedisStreams("streams").AddHandler<RecordingHandler>();
        using var host = builder.Build();
        var error = Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => host.StartAsync());
        Assert.That(error!.Message, Does.Contain("ConnectionStrings:streams"));
    }

    [Test]
    public async Task Two_keyed_services_in_one_host_each_run_their_own_handlers_and_health_check()
    {
        var orders = TestOptions.NewServiceName();
        var refunds = TestOptions.NewServiceName();
        var seen = new ConcurrentQueue<string>();
        var builder = NewBuilder(new()
        {
            ["ConnectionStrings:redis"] = SharedRedis.Server.ConnectionString,
            ["RecoverableStreams:orders:ServiceName"] = orders,
            ["RecoverableStreams:refunds:ServiceName"] = refunds,
            ["RecoverableStreams:refunds:MaxConcurrentStreams"] = "3",
        });
        builder.Services.AddSingleton(seen);
        builder.AddKeyedRecoverableRedisStreams("orders", "redis").AddHandler<RecordingHandler>().AddRecoverableStreamPublisher();
        builder.AddKeyedRecoverableRedisStreams("refunds", "redis").AddHandler<RefundHandler>().AddRecoverableStreamPublisher();
        builder.Services.AddHealthChecks().AddKeyedRecoverableStreamsHealthCheck("orders").AddKeyedRecoverableStreamsHealthCheck("refunds");

        await RunAsync(builder, async host =>
        {
            var options = host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<RecoverableStreamOptions>>();
            Assert.That(options.Get("refunds").MaxConcurrentStreams, Is.EqualTo(3));
            Assert.That(options.Get("orders").MaxConcurrentStreams, Is.EqualTo(new RecoverableStreamOptions().MaxConcurrentStreams));

            await host.Services.GetRequiredKeyedService<IStreamPublisher>("orders").AddStreamAsync("o-1");
            await host.Services.GetRequiredKeyedService<IStreamPublisher>("refunds").AddStreamAsync("r-1");
            await Eventually.AssertAsync(() => seen.Contains("order:o-1") && seen.Contains("refund:r-1"), TimeSpan.FromSeconds(20), "each service's handler runs its own stream");
            Assert.That(seen, Is.EquivalentTo(new[] { "order:o-1", "refund:r-1" }), "no stream went to the other service's handler");

            var health = host.Services.GetRequiredService<HealthCheckService>();
            await Eventually.AssertAsync(
                async () => (await health.CheckHealthAsync()).Status == HealthStatus.Healthy,
                TimeSpan.FromSeconds(20),
                "both services report healthy");
            var report = await health.CheckHealthAsync();
            Assert.That(report.Entries.Keys, Is.EquivalentTo(new[] { "recoverable-streams-orders", "recoverable-streams-refunds" }));
        });
    }

    [Test]
    public async Task A_keyed_health_check_without_its_service_is_unhealthy()
    {
        var builder = NewBuilder(new());
        builder.Services.AddHealthChecks().AddKeyedRecoverableStreamsHealthCheck("missing");
        using var host = builder.Build();
        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        Assert.That(report.Status, Is.EqualTo(HealthStatus.Unhealthy));
        Assert.That(report.Entries["recoverable-streams-missing"].Description, Does.Contain("AddKeyedRecoverableRedisStreams(\"missing\""));
    }

    [Test]
    public async Task A_producer_only_application_announces_with_the_registered_publisher()
    {
        var service = TestOptions.NewServiceName();
        var builder = NewBuilder(new() { ["ConnectionStrings:redis"] = SharedRedis.Server.ConnectionString, ["RecoverableStreams:ServiceName"] = service });
        builder.AddRecoverableStreamPublisher("redis");
        using var host = builder.Build();
        Assert.That(host.Services.GetServices<IHostedService>(), Is.Empty, "a producer runs no worker");

        var id = await host.Services.GetRequiredService<IStreamPublisher>().AddStreamAsync("produced-1");

        await using var redis = await SharedRedis.Server.ConnectAsync();
        var entries = await redis.GetDatabase().StreamRangeAsync(TestHosts.LbsKey(service));
        Assert.That(entries.Select(e => e.Id.ToString()), Is.EqualTo(new[] { id }));
        Assert.That(entries[0][LbsInputMessage.FieldName].ToString(), Does.Contain("produced-1"));
    }

    private static HostApplicationBuilder NewBuilder(Dictionary<string, string?> settings)
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, EnvironmentName = "Test" });
        settings.TryAdd("RecoverableStreams:LeaseDuration", "00:00:02");
        settings.TryAdd("RecoverableStreams:PollInterval", "00:00:00.5");
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        return builder;
    }

    private static async Task RunAsync(HostApplicationBuilder builder, Func<IHost, Task> test)
    {
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            await test(host);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    internal sealed class RecordingHandler(ConcurrentQueue<string> seen) : IStreamWorkHandler
    {
        public Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken)
        {
            seen.Enqueue(context.DataStreamName.StartsWith("o-", StringComparison.Ordinal) ? "order:" + context.DataStreamName : context.DataStreamName);
            return Task.CompletedTask;
        }
    }

    internal sealed class RefundHandler(ConcurrentQueue<string> seen) : IStreamWorkHandler
    {
        public Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken)
        {
            seen.Enqueue("refund:" + context.DataStreamName);
            return Task.CompletedTask;
        }
    }
}
