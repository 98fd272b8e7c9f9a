namespace RecoverableStreams;

/// <summary>
/// The names to subscribe to for the core package's metrics and traces (for example with OpenTelemetry's
/// <c>AddMeter</c> and <c>AddSource</c>, or <c>AddRecoverableStreamsInstrumentation()</c> from the
/// RecoverableStreams.OpenTelemetry package). The hosting package adds its own, named <c>RecoverableStreams.Hosting</c>.
/// </summary>
public static class CoreDiagnostics
{
    /// <summary>
    /// The name of the core <see cref="System.Diagnostics.Metrics.Meter"/> (created through the
    /// <see cref="System.Diagnostics.Metrics.IMeterFactory"/> given to <see cref="RecoverableStreamClient"/>): streams
    /// consumed, leases held and ended, session renewal duration, LBS lag and rejected entries (docs/HOSTING.md lists
    /// every instrument).
    /// </summary>
    public const string MeterName = "RecoverableStreams";

    /// <summary>
    /// The name of the core <see cref="System.Diagnostics.ActivitySource"/>: one producer span per
    /// <see cref="StreamPublisher.AddStreamAsync"/>.
    /// </summary>
    public const string ActivitySourceName = "RecoverableStreams";

    /// <summary>
    /// The key of the LBS entry's <c>Info</c> object that carries the W3C trace context of the announcing producer
    /// (written by <see cref="StreamPublisher"/> when a trace is active; the hosting package continues it).
    /// </summary>
    public const string TraceParentInfoKey = "traceparent";

    /// <summary>The key of the LBS entry's <c>Info</c> object that carries the W3C <c>tracestate</c>, when there is one.</summary>
    public const string TraceStateInfoKey = "tracestate";
}
