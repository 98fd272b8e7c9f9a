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

    /// <summary>What a key of the section that matches no option does.</summary>
    /// <value>The default is <see cref="UnknownConfigurationKeyHandling.Warn"/>.</value>
    public UnknownConfigurationKeyHandling UnknownConfigurationKeys { get; set; } = UnknownConfigurationKeyHandling.Warn;
}
