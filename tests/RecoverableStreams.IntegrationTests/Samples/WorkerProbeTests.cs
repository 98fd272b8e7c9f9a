using System.Net;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.LocalRedis;

namespace RecoverableStreams.IntegrationTests.Samples;

/// <summary>The probe port of deploy/kubernetes: the worker sample serves GET /healthz there and nothing else.</summary>
[TestFixture]
public sealed class WorkerProbeTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(2);   // a cold start on a loaded 2-core CI box

    [Test]
    public async Task Worker_answers_healthz_on_its_probe_port_and_nothing_else()
    {
        // Held for this test process (a flock, 12000-19999): a port merely found free in the ephemeral range can be taken by
        // an outgoing connection before the worker binds it.
        var port = TestPorts.Reserve();
        await using var worker = SampleProcess.Start("RecoverableStreams.Samples.Worker", [], new Dictionary<string, string>
        {
            ["ConnectionStrings__Redis"] = SharedRedis.Server.ConnectionString,
            ["RecoverableStreams__ServiceName"] = TestOptions.NewServiceName(),
            ["POD_NAME"] = "probe-worker",
            ["HealthProbe__Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["DOTNET_ENVIRONMENT"] = "Production",
        });
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(5) };

        await Eventually.AssertAsync(
            async () =>
            {
                try
                {
                    using var response = await http.GetAsync("healthz");
                    return response.StatusCode == HttpStatusCode.OK;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            },
            Deadline,
            $"GET /healthz answers 200 on the probe port {port}");

        using var other = await http.GetAsync("rstreams/data");
        Assert.That(other.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "the probe port serves nothing but /healthz");
    }
}
