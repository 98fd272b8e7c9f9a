using RecoverableStreams;
using RecoverableStreams.Hosting;

namespace OpenTelemetry.Metrics;

/// <summary>Subscribes a meter provider to RecoverableStreams' metrics.</summary>
public static class RecoverableStreamsMeterProviderBuilderExtensions
{
    /// <summary>
    /// Adds the RecoverableStreams meters: <c>RecoverableStreams</c> (<c>messaging.client.consumed.messages</c>, leases
    /// held and ended, session renewal duration, LBS lag, rejected entries) and <c>RecoverableStreams.Hosting</c>
    /// (<c>messaging.process.duration</c>, failover latency, lease headroom); docs/HOSTING.md lists every instrument.
    /// </summary>
    /// <param name="builder">The meter provider builder.</param>
    /// <returns>The builder.</returns>
    public static MeterProviderBuilder AddRecoverableStreamsInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(CoreDiagnostics.MeterName, RecoverableStreamsDiagnostics.MeterName);
    }
}
