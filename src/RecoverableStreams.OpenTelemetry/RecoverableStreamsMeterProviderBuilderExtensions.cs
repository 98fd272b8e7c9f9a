using RecoverableStreams;
using RecoverableStreams.Hosting;

namespace OpenTelemetry.Metrics;

/// <summary>Subscribes a meter provider to RecoverableStreams' metrics.</summary>
public static class RecoverableStreamsMeterProviderBuilderExtensions
{
    /// <summary>
    /// Adds the RecoverableStreams meters: <c>RecoverableStreams</c> (leases held, acquired and lost, renewal duration,
    /// LBS lag, dead letters) and <c>RecoverableStreams.Hosting</c> (streams owned, assigned, claimed, completed, failed,
    /// dead-lettered and released, failover latency, handler duration, lease headroom).
    /// </summary>
    /// <param name="builder">The meter provider builder.</param>
    /// <returns>The builder.</returns>
    public static MeterProviderBuilder AddRecoverableStreamsInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(CoreDiagnostics.MeterName, RecoverableStreamsDiagnostics.MeterName);
    }
}
