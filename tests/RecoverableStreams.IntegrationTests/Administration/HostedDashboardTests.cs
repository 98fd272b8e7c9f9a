using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;
using RecoverableStreams.Hosting;
using RecoverableStreams.IntegrationTests.Infrastructure;

namespace RecoverableStreams.IntegrationTests.Administration;

/// <summary>
/// The dashboard in the app it is meant for: a web app that runs the worker with <c>AddRecoverableRedisStreams("redis")</c>
/// and maps the dashboard with no other line, read in a real browser.
/// </summary>
public sealed class HostedDashboardTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Test]
    public async Task A_hosting_app_serves_its_own_service_on_the_dashboard_with_the_attempts_of_a_dead_letter()
    {
        var service = TestOptions.NewServiceName();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = SharedRedis.Server.ConnectionString,
            ["RecoverableStreams:ServiceName"] = service,
            ["RecoverableStreams:ConsumerId"] = "worker-alpha",
            ["RecoverableStreams:LeaseDuration"] = "00:00:02",
            ["RecoverableStreams:SweepInterval"] = "00:00:01",
            ["RecoverableStreams:PollInterval"] = "00:00:00.5",
            ["RecoverableStreams:MaxDeliveryAttempts"] = "5",
            ["RecoverableStreams:HandlerRetry:InitialDelay"] = "00:00:00.02",
            ["RecoverableStreams:HandlerRetry:MaxDelay"] = "00:00:00.05",
        });
        builder.AddRecoverableRedisStreams("redis").AddHandler<PoisonOrHoldHandler>();
        await using var app = builder.Build();
        app.MapRecoverableStreamsDashboard("/rstreams");
        await app.StartAsync();
        var address = DashboardBrowser.AddressOf(app);

        // Three held streams and one that fails on every attempt. (One partition: the hosting worker does not start
        // with Partitions > 1 yet; partitioned services are covered by AdminTests and CliSafetyTests.)
        await using var redis = await SharedRedis.Server.ConnectAsync();
        var publisher = new StreamPublisher(redis, new RecoverableStreamOptions { ServiceName = service });
        var held = new[] { "orders/001", "orders/002", "orders/003" };
        foreach (var name in held)
        {
            await publisher.AddStreamAsync(name);
        }

        await publisher.AddStreamAsync("poison/7");

        // The JSON first, as a script would read it: the hosting app's service, with no other registration.
        using (var http = new HttpClient { BaseAddress = new Uri(address) })
        {
            var data = await http.GetAsync("/rstreams/data");
            Assert.That((int)data.StatusCode, Is.EqualTo(200), "/rstreams/data in a hosting app: " + await data.Content.ReadAsStringAsync());
        }

        var (playwright, browser) = await DashboardBrowser.LaunchAsync();
        try
        {
            var page = await browser.NewPageAsync();
            page.SetDefaultTimeout((float)Patience.TotalMilliseconds);
            Assertions.SetDefaultExpectTimeout((float)Patience.TotalMilliseconds);
            var response = await page.GotoAsync(address + "/rstreams");
            Assert.That(response!.Status, Is.EqualTo(200));

            // The data comes from the hosting app's own service: its keys, its consumer, its owners.
            await Assertions.Expect(page.Locator("#keys")).ToContainTextAsync("LBS " + service + "-input");
            await Assertions.Expect(page.Locator("#owners tbody tr")).ToHaveCountAsync(held.Length);
            var streams = await page.Locator("#owners tbody tr td:first-child").AllTextContentsAsync();
            Assert.That(streams, Is.EquivalentTo(held));
            await Assertions.Expect(page.Locator("#consumers tbody tr td").First).ToHaveTextAsync("worker-alpha");

            // The poison stream is dead-lettered after five failed attempts: the page says 5, as Redis counted them.
            var dead = page.Locator("#dead-letters tbody tr");
            await Assertions.Expect(dead).ToHaveCountAsync(1);
            var cells = await dead.First.Locator("td").AllTextContentsAsync();
            Assert.That(cells[1], Is.EqualTo("poison/7"));
            Assert.That(cells[3], Does.Contain("after 5 failed attempt(s)"));
            Assert.That(cells[5], Is.EqualTo("5"), "the dead letter's attempts");
        }
        finally
        {
            await browser.CloseAsync();
            playwright.Dispose();
            await app.StopAsync();
        }
    }

    [Test]
    public async Task A_host_with_two_services_maps_a_dashboard_for_each_by_its_key()
    {
        var orders = TestOptions.NewServiceName();
        var refunds = TestOptions.NewServiceName();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = SharedRedis.Server.ConnectionString,
            ["RecoverableStreams:orders:ServiceName"] = orders,
            ["RecoverableStreams:refunds:ServiceName"] = refunds,
        });
        builder.AddKeyedRecoverableRedisStreams("orders", "redis").AddHandler<PoisonOrHoldHandler>();
        builder.AddKeyedRecoverableRedisStreams("refunds", "redis").AddHandler<PoisonOrHoldHandler>();
        await using var app = builder.Build();
        app.MapKeyedRecoverableStreamsDashboard("orders", "/rstreams/orders");
        app.MapKeyedRecoverableStreamsDashboard("refunds", "/rstreams/refunds");
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(DashboardBrowser.AddressOf(app)) };

        foreach (var (path, service) in new[] { ("/rstreams/orders/data", orders), ("/rstreams/refunds/data", refunds) })
        {
            var response = await http.GetAsync(path);
            var body = await response.Content.ReadAsStringAsync();
            Assert.That((int)response.StatusCode, Is.EqualTo(200), body);
            using var json = System.Text.Json.JsonDocument.Parse(body);
            Assert.That(json.RootElement.GetProperty("service").GetString(), Is.EqualTo(service), path);
        }

        await app.StopAsync();
    }

    [Test]
    public async Task A_dashboard_whose_redis_was_down_at_its_first_request_recovers_without_a_restart()
    {
        // Redis is down when the first request comes: 503. Nothing failed is kept, so once Redis is back the same app
        // answers 200 (a Lazy that cached the failure would answer 503 until the app restarts).
        await using var server = await RedisServer.StartAsync("--appendonly", "no");
        await server.StopProcessAsync();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = server.EndPoint + ",connectTimeout=500",
            ["RecoverableStreams:ServiceName"] = TestOptions.NewServiceName(),
        });
        builder.AddRecoverableRedisStreams("redis").AddHandler<PoisonOrHoldHandler>();
        await using var app = builder.Build();
        app.MapRecoverableStreamsDashboard("/rstreams");
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(DashboardBrowser.AddressOf(app)) };

        Assert.That((int)(await http.GetAsync("/rstreams/data")).StatusCode, Is.EqualTo(503), "Redis is down");
        await using var restarted = await server.RestartAsync("--appendonly", "no");
        await Eventually.AssertAsync(async () => (int)(await http.GetAsync("/rstreams/data")).StatusCode == 200, Patience, "the dashboard reads Redis once it is back");
        await app.StopAsync();
    }

    /// <summary>Holds <c>orders/*</c> until the host stops; fails on every attempt at anything else.</summary>
    internal sealed class PoisonOrHoldHandler : IStreamWorkHandler
    {
        public async Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken)
        {
            if (!context.DataStreamName.StartsWith("orders/", StringComparison.Ordinal))
            {
                throw new InvalidOperationException("poison entry");
            }

            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
    }
}
