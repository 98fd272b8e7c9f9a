namespace RecoverableStreams.Hosting;

/// <summary>
/// The names to subscribe to for the hosting integration's metrics and traces (for example with OpenTelemetry's
/// <c>AddMeter</c> and <c>AddSource</c>). docs/HOSTING.md lists every instrument and tag.
/// </summary>
public static class RecoverableStreamsDiagnostics
{
    /// <summary>The name of the <see cref="System.Diagnostics.Metrics.Meter"/> (created through <see cref="System.Diagnostics.Metrics.IMeterFactory"/>).</summary>
    public const string MeterName = "RecoverableStreams.Hosting";

    /// <summary>The name of the <see cref="System.Diagnostics.ActivitySource"/>: one consumer span per stream session.</summary>
    public const string ActivitySourceName = "RecoverableStreams.Hosting";
}
