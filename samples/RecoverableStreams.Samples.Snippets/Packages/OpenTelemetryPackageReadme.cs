using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace RecoverableStreams.Samples.Snippets.Packages;

/// <summary>The C# of src/RecoverableStreams.OpenTelemetry/README.md (the package's page), compiled.</summary>
public static class OpenTelemetryPackageReadme
{
    public static void Configure(IHostApplicationBuilder builder)
    {
        // snippet: package-opentelemetry
        builder.Services.AddOpenTelemetry()
            .WithTracing(tracing => tracing.AddRecoverableStreamsInstrumentation().AddOtlpExporter())
            .WithMetrics(metrics => metrics.AddRecoverableStreamsInstrumentation().AddOtlpExporter());
        // end snippet
    }
}
