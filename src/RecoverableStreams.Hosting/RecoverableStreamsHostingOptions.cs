namespace RecoverableStreams.Hosting;

/// <summary>
/// The hosting package's own settings, bound from the same section as <see cref="RecoverableStreamOptions"/>
/// (<c>RecoverableStreams</c>, or <c>RecoverableStreams:{serviceKey}</c> for a keyed service); set them in code with
/// <c>ConfigureHosting(...)</c> on the builder <c>AddRecoverableRedisStreams</c> returns.
/// </summary>
public sealed class RecoverableStreamsHostingOptions
{
    /// <summary>
    /// A StackExchange.Redis configuration string: the most explicit way to name this service's Redis, before
    /// <c>ConnectionStrings:{connectionName}</c> and a registered <c>IConnectionMultiplexer</c>.
    /// </summary>
    /// <value>The default is <see langword="null"/>.</value>
    public string? Configuration { get; set; }

    /// <summary>How many failed handler attempts a stream gets before it is dead-lettered.</summary>
    /// <value>The default is 5.</value>
    public int MaxDeliveryAttempts { get; set; } = 5;

    /// <summary>
    /// How long one worker keeps retrying a stream whose handler fails because Redis is in an outage (unreachable,
    /// timing out, or in a transient state such as a failover, CLUSTERDOWN, LOADING or READONLY). Outages never count
    /// as delivery attempts; past this bound the stream is released (never dead-lettered), so that another consumer,
    /// or this one later, takes it.
    /// </summary>
    /// <value>The default is 1 minute.</value>
    public TimeSpan MaxOutageRetryDuration { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long one worker keeps retrying a stream whose handler fails because Redis refuses for its configuration:
    /// out of memory (<c>OOM</c>, <c>maxmemory</c> reached with <c>noeviction</c>), an ACL user without a needed
    /// command, key or channel (<c>NOPERM</c>), an unauthenticated connection (<c>NOAUTH</c>), or failed persistence
    /// (<c>MISCONF</c>), also when a script's error wraps them. Such a refusal lasts until an operator acts; it never
    /// counts as a delivery attempt and its log line (event 258) says what to fix. Past this bound the stream is released
    /// (never dead-lettered), as after <see cref="MaxOutageRetryDuration"/>.
    /// </summary>
    /// <value>The default is 10 minutes.</value>
    public TimeSpan MaxConfigurationOutageRetryDuration { get; set; } = TimeSpan.FromMinutes(10);

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
