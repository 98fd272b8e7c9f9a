using RecoverableStreams;
using RecoverableStreams.Hosting;

namespace OpenTelemetry.Trace;

/// <summary>Subscribes a tracer provider to RecoverableStreams' spans.</summary>
public static class RecoverableStreamsTracerProviderBuilderExtensions
{
    /// <summary>
    /// Adds the RecoverableStreams activity sources: <c>RecoverableStreams</c> (a producer span per
    /// <see cref="StreamPublisher.AddStreamAsync"/>) and <c>RecoverableStreams.Hosting</c> (a consumer span per stream
    /// session, a child of the producer's span when the LBS entry carries its trace context).
    /// </summary>
    /// <param name="builder">The tracer provider builder.</param>
    /// <returns>The builder.</returns>
    public static TracerProviderBuilder AddRecoverableStreamsInstrumentation(this TracerProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddSource(CoreDiagnostics.ActivitySourceName, RecoverableStreamsDiagnostics.ActivitySourceName);
    }
}
