using Microsoft.Extensions.Diagnostics.HealthChecks;
using RecoverableStreams.Hosting;
using RecoverableStreams.Hosting.Health;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the RecoverableStreams health check.</summary>
public static class RecoverableStreamsHealthChecksBuilderExtensions
{
    /// <summary>The health check's default name.</summary>
    public const string DefaultName = "recoverable-streams";

    /// <summary>
    /// Adds a check that is unhealthy when Redis does not answer PING or the stream client is not running (not started
    /// yet, or stopped), and healthy otherwise, with the consumer id and the number of owned streams as data.
    /// <c>AddRecoverableRedisStreams</c> adds this check by default (unless <see cref="RecoverableStreamsHostingOptions.DisableHealthChecks"/>);
    /// call this to choose its name, failure status, tags or timeout. It replaces the default one, and a second call
    /// adds nothing.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The check's name.</param>
    /// <param name="failureStatus">The status reported on failure; <see cref="HealthStatus.Unhealthy"/> when <see langword="null"/>.</param>
    /// <param name="tags">Tags to filter checks by (for example <c>ready</c>).</param>
    /// <param name="timeout">How long the check may take; PING is given at most 5 seconds in any case.</param>
    /// <returns>The builder.</returns>
    public static IHealthChecksBuilder AddRecoverableStreamsHealthCheck(this IHealthChecksBuilder builder, string name = DefaultName, HealthStatus? failureStatus = null, IEnumerable<string>? tags = null, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);
        return HealthCheckRegistrations.AddExplicit(builder, Options.Options.DefaultName, name, failureStatus, tags, timeout);
    }

    /// <summary>
    /// Adds the check of a service added with <c>AddKeyedRecoverableRedisStreams(serviceKey, ...)</c>, named
    /// <c>recoverable-streams-{serviceKey}</c> unless <paramref name="name"/> says otherwise; it reports as
    /// <see cref="AddRecoverableStreamsHealthCheck"/> does, for that service alone. Added by default with the service
    /// (unless its <see cref="RecoverableStreamsHostingOptions.DisableHealthChecks"/>); this call replaces the default one,
    /// and a second call adds nothing.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="serviceKey">The service's key.</param>
    /// <param name="name">The check's name; <c>recoverable-streams-{serviceKey}</c> when <see langword="null"/>.</param>
    /// <param name="failureStatus">The status reported on failure; <see cref="HealthStatus.Unhealthy"/> when <see langword="null"/>.</param>
    /// <param name="tags">Tags to filter checks by (for example <c>ready</c>).</param>
    /// <param name="timeout">How long the check may take; PING is given at most 5 seconds in any case.</param>
    /// <returns>The builder.</returns>
    public static IHealthChecksBuilder AddKeyedRecoverableStreamsHealthCheck(this IHealthChecksBuilder builder, string serviceKey, string? name = null, HealthStatus? failureStatus = null, IEnumerable<string>? tags = null, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(serviceKey);
        return HealthCheckRegistrations.AddExplicit(builder, serviceKey, name ?? HealthCheckRegistrations.DefaultNameOf(serviceKey), failureStatus, tags, timeout);
    }
}
