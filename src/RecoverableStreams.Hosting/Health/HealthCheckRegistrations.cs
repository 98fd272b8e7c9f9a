using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RecoverableStreams.Hosting.DependencyInjection;
using RecoverableStreams.Hosting.Processing;

namespace RecoverableStreams.Hosting.Health;

/// <summary>
/// The health check of one stream service, however it is added: by default with the service
/// (<see cref="DefaultHealthCheck"/>), or by <c>AddRecoverableStreamsHealthCheck</c> / <c>AddKeyedRecoverableStreamsHealthCheck</c>.
/// An explicit call leaves a marker (<see cref="ExplicitHealthCheck"/>) so the default one steps aside and a second call
/// adds nothing: one check per service, never a duplicate name.
/// </summary>
internal static class HealthCheckRegistrations
{
    /// <summary>The check's default name: <c>recoverable-streams</c>, or <c>recoverable-streams-{serviceKey}</c>.</summary>
    public static string DefaultNameOf(string serviceKey) =>
        serviceKey.Length == 0 ? RecoverableStreamsHealthChecksBuilderExtensions.DefaultName : RecoverableStreamsHealthChecksBuilderExtensions.DefaultName + "-" + serviceKey;

    public static HealthCheckRegistration Create(string serviceKey, string name, HealthStatus? failureStatus, IEnumerable<string>? tags, TimeSpan? timeout) =>
        new(name, sp => Check(sp, serviceKey), failureStatus, tags, timeout);

    /// <summary>Adds the check unless one was added explicitly for this service already.</summary>
    public static IHealthChecksBuilder AddExplicit(IHealthChecksBuilder builder, string serviceKey, string name, HealthStatus? failureStatus, IEnumerable<string>? tags, TimeSpan? timeout)
    {
        if (builder.Services.Any(d => d.ImplementationInstance is ExplicitHealthCheck marker && marker.ServiceKey == serviceKey))
        {
            return builder;
        }

        builder.Services.AddSingleton(new ExplicitHealthCheck(serviceKey));
        return builder.Add(Create(serviceKey, name, failureStatus, tags, timeout));
    }

    private static RecoverableStreamsHealthCheck Check(IServiceProvider services, string serviceKey)
    {
        if (serviceKey.Length == 0)
        {
            return new RecoverableStreamsHealthCheck(services.GetService<RecoverableStreamsRuntimes>()?.Get(serviceKey));
        }

        var registered = services.GetServices<ServiceBinding>().Any(b => b.Key == serviceKey);
        return new RecoverableStreamsHealthCheck(registered ? services.GetService<RecoverableStreamsRuntimes>()?.Get(serviceKey) : null, serviceKey);
    }
}

/// <summary>Marks a service whose health check the application added itself.</summary>
internal sealed record ExplicitHealthCheck(string ServiceKey);
