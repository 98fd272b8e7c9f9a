using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RecoverableStreams.Hosting;
using RecoverableStreams.IntegrationTests.Infrastructure;

namespace RecoverableStreams.IntegrationTests.Hosting;

public sealed class HealthCheckTests
{
    [Test]
    public async Task Health_is_unhealthy_while_Redis_is_down_and_healthy_again_when_it_is_back()
    {
        var server = await RedisServer.StartAsync("--notify-keyspace-events", "");
        try
        {
            var builder = TestHosts.NewBuilder(TestOptions.NewServiceName(), connection: server.ConnectionString + ",connectTimeout=2000", consumerId: "health-1");
            builder.Services.AddRecoverableRedisStreams().AddHandler<NoOpHandler>();
            builder.Services.AddHealthChecks().AddRecoverableStreamsHealthCheck();
            using var host = builder.Build();
            await host.StartAsync();
            try
            {
                var health = host.Services.GetRequiredService<HealthCheckService>();
                HealthReport report = null!;
                await Eventually.AssertAsync(async () => (report = await health.CheckHealthAsync()).Status == HealthStatus.Healthy, TimeSpan.FromSeconds(20), "healthy once started");
                var entry = report.Entries["recoverable-streams"];
                Assert.That(entry.Data["consumerId"], Is.EqualTo("health-1"));
                Assert.That(entry.Data["ownedStreams"], Is.EqualTo(0));

                await server.StopProcessAsync();
                await Eventually.AssertAsync(async () => (report = await health.CheckHealthAsync()).Status == HealthStatus.Unhealthy, TimeSpan.FromSeconds(20), "unhealthy while Redis is down");
                Assert.That(report.Entries["recoverable-streams"].Description, Does.Contain("PING"));

                server = await server.RestartAsync("--notify-keyspace-events", "");
                await Eventually.AssertAsync(async () => (await health.CheckHealthAsync()).Status == HealthStatus.Healthy, TimeSpan.FromSeconds(40), "healthy again once Redis is back");
            }
            finally
            {
                await host.StopAsync();
            }
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    internal sealed class NoOpHandler : IStreamWorkHandler
    {
        public Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
