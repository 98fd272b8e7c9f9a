using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Exports RecoverableStreams' traces and metrics as <c>Telemetry:Exporter</c> says: <c>None</c> (the default: the
/// demo and the fault tests run many workers and no collector), <c>Console</c>, or <c>Otlp</c> (to
/// <c>Telemetry:OtlpEndpoint</c>, else the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>, else localhost:4317).
/// </summary>
public static class OpenTelemetryExport
{
    public static IHostApplicationBuilder AddWorkerOpenTelemetry(this IHostApplicationBuilder builder)
    {
        var exporter = builder.Configuration["Telemetry:Exporter"] ?? "None";
        if (string.Equals(exporter, "None", StringComparison.OrdinalIgnoreCase))
        {
            return builder;
        }

        var console = string.Equals(exporter, "Console", StringComparison.OrdinalIgnoreCase);
        if (!console && !string.Equals(exporter, "Otlp", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"Telemetry:Exporter is '{exporter}'; use None, Console or Otlp.");
        }

        var endpoint = builder.Configuration["Telemetry:OtlpEndpoint"];
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(builder.Configuration["RecoverableStreams:ServiceName"] ?? "recoverable-streams-worker"))
            .WithTracing(tracing =>
            {
                tracing.AddRecoverableStreamsInstrumentation();
                if (console)
                {
                    tracing.AddConsoleExporter();
                }
                else
                {
                    tracing.AddOtlpExporter(o => SetEndpoint(o, endpoint));
                }
            })
            .WithMetrics(metrics =>
            {
                metrics.AddRecoverableStreamsInstrumentation();
                if (console)
                {
                    metrics.AddConsoleExporter();
                }
                else
                {
                    metrics.AddOtlpExporter(o => SetEndpoint(o, endpoint));
                }
            });
        return builder;
    }

    private static void SetEndpoint(OpenTelemetry.Exporter.OtlpExporterOptions options, string? endpoint)
    {
        if (!string.IsNullOrWhiteSpace(endpoint))
        {
            options.Endpoint = new Uri(endpoint);
        }
    }
}
