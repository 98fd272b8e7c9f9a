using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;
using RecoverableStreams.Administration;
using RecoverableStreams.IntegrationTests.Infrastructure;

namespace RecoverableStreams.IntegrationTests.Administration;

/// <summary>
/// The dashboard served by a real WebApplication over a real Redis, read in a real headless browser: Debian's
/// chromium driven by Playwright (eng/ensure-chromium.sh installs it; no browser download).
/// </summary>
public sealed class DashboardTests : SharedRedisTest
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Test]
    public async Task The_dashboard_shows_consumers_owners_lag_and_dead_letters_and_refreshes_itself()
    {
        Assert.That(File.Exists(Chromium), Is.True, $"{Chromium} is missing: run eng/ensure-chromium.sh (apt-get install chromium).");
        var service = TestOptions.NewServiceName();
        var publisher = new StreamPublisher(Redis, TestOptions.For(service));
        var admin = new RecoverableStreamsAdmin(Redis, TestOptions.For(service));

        // Two dead letters (the first consumer gives up on two streams), then eight streams for two consumers that
        // hold three each: six owners and a lag of two.
        await using var alpha = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "worker-alpha", maxConcurrentStreams: 3));
        await publisher.AddStreamAsync("sensor-17/readings");
        await publisher.AddStreamAsync("sensor-42/readings");
        await Eventually.AssertAsync(() => alpha.Owned.Count == 2, Patience, "the first consumer owns the two streams to dead-letter");
        foreach (var lease in alpha.Owned.OrderBy(l => l.DataStreamName, StringComparer.Ordinal))
        {
            // Five failed attempts counted in Redis, as the hosting layer counts them, then the dead letter.
            for (var attempt = 0; attempt < 5; attempt++)
            {
                await lease.RecordFailedAttemptAsync();
            }

            await lease.DeadLetterAsync($"handler failed 5 times: <TimeoutException> reading {lease.DataStreamName}");
        }

        await using var beta = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "worker-beta", maxConcurrentStreams: 3));
        for (var i = 1; i <= 8; i++)
        {
            await publisher.AddStreamAsync($"orders/{i:D3}");
        }

        await Eventually.AssertAsync(() => alpha.Owned.Count == 3 && beta.Owned.Count == 3, Patience, "both consumers fill their three slots");

        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(admin);
        await using var app = builder.Build();
        app.MapRecoverableStreamsDashboard("/ops/rstreams", o => o.RefreshInterval = TimeSpan.FromSeconds(1));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();

        using var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        try
        {
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
            page.SetDefaultTimeout((float)Patience.TotalMilliseconds);
            var response = await page.GotoAsync(address + "/ops/rstreams");
            Assert.That(response!.Status, Is.EqualTo(200));

            // Owners: one row per owned stream, with the owner's consumer and fencing token.
            await Assertions.Expect(page.Locator("#owners tbody tr")).ToHaveCountAsync(6);
            foreach (var lease in alpha.Owned.Concat(beta.Owned))
            {
                var cells = await page.Locator($"#owners tbody tr[data-key='{lease.IdInLbs}'] td").AllTextContentsAsync();
                Assert.That(cells[0], Is.EqualTo(lease.DataStreamName));
                Assert.That(cells[1], Is.EqualTo(lease.IdInLbs));
                Assert.That(cells[2], Is.EqualTo(lease.ConsumerId));
                Assert.That(cells[4], Is.EqualTo(lease.FencingToken.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }

            // Consumers with their stream counts, and the summary.
            await Assertions.Expect(page.Locator("#consumers tbody tr")).ToHaveCountAsync(2);
            var alphaCells = await page.Locator("#consumers tbody tr", new() { HasText = "worker-alpha" }).Locator("td").AllTextContentsAsync();
            Assert.That(alphaCells[5], Is.EqualTo("live"));
            Assert.That(alphaCells[6], Is.EqualTo("3"));
            await Assertions.Expect(page.Locator("[data-metric='Lag'] .value")).ToHaveTextAsync("2");
            await Assertions.Expect(page.Locator("[data-metric='Owned'] .value")).ToHaveTextAsync("6");
            await Assertions.Expect(page.Locator("[data-metric='Dead letters'] .value")).ToHaveTextAsync("2");

            // Dead letters, with the reason shown as text (the page never renders data as HTML).
            var deadRows = page.Locator("#dead-letters tbody tr");
            await Assertions.Expect(deadRows).ToHaveCountAsync(2);
            Assert.That(await deadRows.Nth(0).Locator("td").Nth(1).TextContentAsync(), Is.EqualTo("sensor-17/readings"));
            Assert.That(await deadRows.Nth(0).Locator("td").Nth(3).TextContentAsync(), Is.EqualTo("handler failed 5 times: <TimeoutException> reading sensor-17/readings"));
            Assert.That(await deadRows.Nth(0).Locator("td").Nth(5).TextContentAsync(), Is.EqualTo("5"), "the attempts counted before the dead letter");
            Assert.That(await page.Locator("#dead-letters timeoutexception").CountAsync(), Is.Zero);

            await SaveScreenshotAsync(page);

            // The page refreshes itself: changes in Redis appear without a reload (the marker set on this document
            // survives).
            await page.EvaluateAsync("() => { window.loadMarker = 'same-document'; }");
            var finished = alpha.Owned.OrderBy(l => l.DataStreamName, StringComparer.Ordinal).First();
            await alpha.Client.CompleteStreamAsync(finished.Info);
            await admin.PurgeAllDeadLettersAsync();

            await Assertions.Expect(page.Locator($"#owners tbody tr[data-key='{finished.IdInLbs}']")).ToHaveCountAsync(0);
            await Assertions.Expect(page.Locator("#dead-letters tbody")).ToHaveTextAsync("No dead letters.");
            await Assertions.Expect(page.Locator("[data-metric='Dead letters'] .value")).ToHaveTextAsync("0");
            // The freed slot takes one of the two waiting streams: seven entries left, one never delivered.
            await Assertions.Expect(page.Locator("[data-metric='Lag'] .value")).ToHaveTextAsync("1");
            await Assertions.Expect(page.Locator("#owners tbody tr")).ToHaveCountAsync(6);
            Assert.That(await page.EvaluateAsync<string>("() => window.loadMarker"), Is.EqualTo("same-document"));
        }
        finally
        {
            await browser.CloseAsync();
            await app.StopAsync();
        }
    }

    [Test]
    public async Task The_data_endpoint_answers_503_with_a_generic_message_and_logs_the_reason_when_redis_is_unreachable()
    {
        // A connection to a server that is stopped: the page keeps running and shows a generic error; the details,
        // which name the end point, the client and the user, go to the log only.
        await using var server = await RedisServer.StartOwnAsync();
        var configuration = StackExchange.Redis.ConfigurationOptions.Parse(server.ConnectionString);
        configuration.ClientName = "client-name-not-for-browsers";
        configuration.Password = "password-not-for-browsers";
        configuration.User = "default";
        var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(configuration);
        await using var _ = redis;
        using var logs = new LogCapture();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Services.AddSingleton<StackExchange.Redis.IConnectionMultiplexer>(redis);
        builder.Services.AddSingleton(Microsoft.Extensions.Options.Options.Create(TestOptions.For()));
        await using var app = builder.Build();
        app.MapRecoverableStreamsDashboard();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        using var http = new HttpClient { BaseAddress = new Uri(address) };

        var healthy = await http.GetAsync("/rstreams/data");
        Assert.That((int)healthy.StatusCode, Is.EqualTo(200), "the IConnectionMultiplexer and options from the services are used");
        Assert.That(await http.GetStringAsync("/rstreams"), Does.Contain("<table id=\"owners\">"));

        await server.StopProcessAsync();
        await Eventually.AssertAsync(async () => (int)(await http.GetAsync("/rstreams/data")).StatusCode == 503, Patience, "the data endpoint reports Redis unreachable");
        var body = await (await http.GetAsync("/rstreams/data")).Content.ReadAsStringAsync();
        using (var json = System.Text.Json.JsonDocument.Parse(body))
        {
            Assert.That(json.RootElement.GetProperty("error").GetString(), Is.EqualTo("The service's state cannot be read right now; the application's log says why."), body);
            Assert.That(json.RootElement.EnumerateObject().Count(), Is.EqualTo(1), body);
        }

        Assert.That(body, Does.Not.Contain(server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)).And.Not.Contain("client-name").And.Not.Contain("password"));
        var logged = logs.WithEventId(480);
        Assert.That(logged, Is.Not.Empty, "the failure is logged");
        Assert.That(logged[0].Exception?.ToString(), Does.Contain(server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)), "the log keeps the details: " + logged[0].Exception);
        await app.StopAsync();
    }

    /// <summary>
    /// Keeps the screenshot with the test's results; <c>DASHBOARD_SCREENSHOT=path</c> also writes it there
    /// (eng/dashboard-screenshot.sh refreshes docs/dashboard.png that way).
    /// </summary>
    private static async Task SaveScreenshotAsync(IPage page)
    {
        var path = Path.Combine(TestContext.CurrentContext.WorkDirectory, "dashboard.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        TestContext.AddTestAttachment(path, "The dashboard as the browser rendered it");
        if (Environment.GetEnvironmentVariable("DASHBOARD_SCREENSHOT") is { Length: > 0 } target)
        {
            File.Copy(path, target, overwrite: true);
        }
    }
}
