using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using RecoverableStreams.IntegrationTests.Infrastructure;

namespace RecoverableStreams.IntegrationTests.Samples;

/// <summary>The web API sample, built and run as a process with the telemetry handler switched on.</summary>
[TestFixture]
public sealed class ApiTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(45);

    [Test]
    public async Task Api_announces_a_stream_shows_its_owner_reports_healthy_and_runs_the_handler()
    {
        var service = TestOptions.NewServiceName();
        // A data stream of this test only (the shared server runs other tests at the same time), deleted at the end.
        var dataStream = service + ":api-sensor";
        var port = FreePort();
        await using var api = SampleProcess.Start("RecoverableStreams.Samples.Api", [], new Dictionary<string, string>
        {
            ["ConnectionStrings__Redis"] = SharedRedis.Server.ConnectionString,
            ["RecoverableStreams__ServiceName"] = service,
            ["Samples__RunHandlers"] = "true",
            ["POD_NAME"] = "api-test",
            ["Urls"] = $"http://127.0.0.1:{port}",
        });
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        await Eventually.AssertAsync(async () => await HealthAsync(http) == "Healthy", Deadline, "/healthz reports Healthy");

        var created = await http.PostAsJsonAsync("/streams", new { dataStreamName = dataStream, info = new { site = "a" } });
        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        var idInLbs = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("idInLbs").GetString();

        JsonElement lease = default;
        await Eventually.AssertAsync(async () =>
        {
            var view = await http.GetFromJsonAsync<JsonElement>("/streams");
            var leases = view.GetProperty("owners").EnumerateArray().Where(l => l.GetProperty("idInLbs").GetString() == idInLbs).ToList();
            lease = leases.FirstOrDefault();
            return leases.Count == 1;
        }, Deadline, "GET /streams lists the lease");
        Assert.Multiple(() =>
        {
            Assert.That(lease.GetProperty("dataStreamName").GetString(), Is.EqualTo(dataStream));
            Assert.That(lease.GetProperty("consumerId").GetString(), Is.EqualTo("redis-consumer-api-test"));
            Assert.That(lease.GetProperty("fencingToken").GetInt64(), Is.GreaterThan(0));
        });

        // The dashboard the sample maps reads the same service.
        Assert.That(await http.GetStringAsync("/rstreams"), Does.Contain("<table id=\"owners\">"));
        Assert.That(await http.GetStringAsync("/rstreams/data"), Does.Contain($"\"dataStreamName\":\"{dataStream}\""));

        await using var redis = await SharedRedis.Server.ConnectAsync();
        var db = redis.GetDatabase();
        await db.StreamAddAsync(dataStream, "v", 9);
        await db.StreamAddAsync(dataStream, "end", 1);
        var summary = $"{service}:summary:{dataStream}";
        await Eventually.AssertAsync(async () => await db.HashGetAsync(summary, "sum") == "9", Deadline, "the handler in the API wrote the summary");

        var rejected = await http.PostAsJsonAsync("/streams", new { info = new { site = "b" } });
        Assert.That(rejected.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        await db.KeyDeleteAsync([dataStream, summary]);
    }

    private static async Task<string?> HealthAsync(HttpClient http)
    {
        try
        {
            return await http.GetStringAsync("/healthz");
        }
        catch (HttpRequestException)
        {
            return null; // not listening yet, or 503 while starting
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
