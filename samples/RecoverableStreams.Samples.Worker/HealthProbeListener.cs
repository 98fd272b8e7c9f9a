using System.Net;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace RecoverableStreams.Samples.Worker;

/// <summary>
/// Serves the Kubernetes probes on a port of their own (<c>HealthProbe:Port</c>) and nothing else: <c>GET /healthz</c>
/// answers 200 while every registered health check is healthy (Redis answers, the consumer runs), 503 otherwise, with
/// no detail in the body (a probe needs the status code; the reasons go to the log). The worker has no other HTTP
/// surface, so binding this port on every interface exposes only that status.
/// </summary>
internal sealed partial class HealthProbeListener(int port, HealthCheckService health, ILogger<HealthProbeListener> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://+:{port}/");
        listener.Start();
        ProbesListening(logger, port);
        using var stop = stoppingToken.Register(listener.Stop);
        while (!stoppingToken.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }

            await AnswerAsync(context, stoppingToken);
        }
    }

    private async Task AnswerAsync(HttpListenerContext context, CancellationToken stoppingToken)
    {
        using var response = context.Response;
        if (context.Request.HttpMethod != "GET" || context.Request.Url?.AbsolutePath != "/healthz")
        {
            response.StatusCode = (int)HttpStatusCode.NotFound;
            return;
        }

        try
        {
            var report = await health.CheckHealthAsync(stoppingToken);
            response.StatusCode = report.Status == HealthStatus.Unhealthy ? 503 : 200;
            if (report.Status != HealthStatus.Healthy)
            {
                ProbeNotHealthy(logger, report.Status, string.Join("; ", report.Entries.Select(e => e.Key + ": " + e.Value.Description)));
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            response.StatusCode = 503;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Health probes on port {Port}: GET /healthz")]
    private static partial void ProbesListening(ILogger logger, int port);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Health probe: {Status}: {Reasons}")]
    private static partial void ProbeNotHealthy(ILogger logger, HealthStatus status, string reasons);
}
