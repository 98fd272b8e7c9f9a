using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using RecoverableStreams.Hosting.DependencyInjection;

namespace RecoverableStreams.Hosting.Health;

/// <summary>
/// Adds a worker's health check by default, as Aspire's client integrations do, unless
/// <see cref="RecoverableStreamsHostingOptions.DisableHealthChecks"/> says not to or the application added it itself
/// (<see cref="ExplicitHealthCheck"/>). A post-configuration, so it runs after every explicit registration and reads
/// the service's options once they are bound.
/// </summary>
internal sealed class DefaultHealthCheck(ServiceBinding binding, IServiceProvider services) : IPostConfigureOptions<HealthCheckServiceOptions>
{
    public void PostConfigure(string? name, HealthCheckServiceOptions options)
    {
        var hosting = services.GetRequiredService<IOptionsMonitor<RecoverableStreamsHostingOptions>>().Get(binding.Key);
        var checkName = HealthCheckRegistrations.DefaultNameOf(binding.Key);
        if (hosting.DisableHealthChecks
            || services.GetServices<ExplicitHealthCheck>().Any(m => m.ServiceKey == binding.Key)
            || options.Registrations.Any(r => string.Equals(r.Name, checkName, StringComparison.Ordinal)))
        {
            return;
        }

        options.Registrations.Add(HealthCheckRegistrations.Create(binding.Key, checkName, null, null, null));
    }
}
