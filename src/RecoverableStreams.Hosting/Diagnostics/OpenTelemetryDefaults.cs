using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using RecoverableStreams.Hosting.DependencyInjection;

namespace RecoverableStreams.Hosting.Diagnostics;

/// <summary>
/// Adds the core's and the hosting layer's activity sources and meters to the application's OpenTelemetry providers
/// by default, as Aspire's client integrations do: when the application sets OpenTelemetry up through DI
/// (<c>AddOpenTelemetry().WithTracing(...)</c>), RecoverableStreams is part of it with no other line. A registration
/// only (OpenTelemetry's API package): nothing is created or exported unless the application builds a provider. Left
/// out when every service says <see cref="RecoverableStreamsHostingOptions.DisableTracing"/> or
/// <see cref="RecoverableStreamsHostingOptions.DisableMetrics"/>.
/// </summary>
internal static class OpenTelemetryDefaults
{
    public static void Add(IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(Marker)))
        {
            return;
        }

        services.AddSingleton<Marker>();
        services.ConfigureOpenTelemetryTracerProvider((sp, tracing) =>
        {
            if (AnyService(sp, o => !o.DisableTracing))
            {
                tracing.AddSource(CoreDiagnostics.ActivitySourceName, RecoverableStreamsDiagnostics.ActivitySourceName);
            }
        });
        services.ConfigureOpenTelemetryMeterProvider((sp, metrics) =>
        {
            if (AnyService(sp, o => !o.DisableMetrics))
            {
                metrics.AddMeter(CoreDiagnostics.MeterName, RecoverableStreamsDiagnostics.MeterName);
            }
        });
    }

    private static bool AnyService(IServiceProvider services, Func<RecoverableStreamsHostingOptions, bool> predicate)
    {
        var options = services.GetRequiredService<IOptionsMonitor<RecoverableStreamsHostingOptions>>();
        return services.GetServices<ServiceBinding>().Any(b => predicate(options.Get(b.Key)));
    }

    /// <summary>Marks a service collection where the defaults are registered, so they are registered once.</summary>
    private sealed class Marker;
}
