namespace RecoverableStreams.Hosting;

/// <summary>
/// The hosting package's own settings, bound from the same section as <see cref="RecoverableStreamOptions"/>
/// (<c>RecoverableStreams</c>, or <c>RecoverableStreams:{serviceKey}</c> for a keyed service); set them in code with
/// <c>ConfigureHosting(...)</c> on the builder <c>AddRecoverableRedisStreams</c> returns.
/// </summary>
public sealed class RecoverableStreamsHostingOptions
{
    /// <summary>The back-off between a failed handler attempt and the next one.</summary>
    public HandlerRetryOptions HandlerRetry { get; set; } = new();

    /// <summary>
    /// Turns off the health check that <c>AddRecoverableRedisStreams</c> adds for this service (named
    /// <c>recoverable-streams</c>, or <c>recoverable-streams-{serviceKey}</c>), as Aspire's client integrations do. A
    /// check added with <c>AddRecoverableStreamsHealthCheck()</c> stays.
    /// </summary>
    /// <value>The default is <see langword="false"/>: the check is added.</value>
    public bool DisableHealthChecks { get; set; }

    /// <summary>
    /// Turns off this service's traces: its workers start no <c>process</c> span per stream run, and, when every
    /// service of the host turns them off, the activity sources are not added to the application's OpenTelemetry
    /// tracer provider (which they are by default, with no other line). Trace context still travels in the
    /// announcements, so services downstream continue the trace.
    /// </summary>
    /// <value>The default is <see langword="false"/>: traced.</value>
    public bool DisableTracing { get; set; }

    /// <summary>
    /// Turns off this service's metrics: neither its client nor its workers record measurements, and, when every
    /// service of the host turns them off, the meters are not added to the application's OpenTelemetry meter provider
    /// (which they are by default, with no other line).
    /// </summary>
    /// <value>The default is <see langword="false"/>: measured.</value>
    public bool DisableMetrics { get; set; }

    /// <summary>What a key of the section that matches no option does.</summary>
    /// <value>The default is <see cref="UnknownConfigurationKeyHandling.Warn"/>.</value>
    public UnknownConfigurationKeyHandling UnknownConfigurationKeys { get; set; } = UnknownConfigurationKeyHandling.Warn;
}
