using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using RecoverableStreams.Administration;
using RecoverableStreams.Hosting.Connection;

namespace RecoverableStreams.Hosting.DependencyInjection;

/// <summary>
/// Registers the operator API (<see cref="RecoverableStreamsAdmin"/>) of each hosted service, over that service's own
/// connection and options, so the dashboard and application code read the service the worker runs with no other line:
/// keyed by the service key, and unkeyed for the default service.
/// </summary>
internal static class AdminRegistration
{
    public static void Add(IServiceCollection services, ServiceBinding binding)
    {
        services.TryAddKeyedSingleton(binding.Key, (sp, _) => Create(sp, binding));
        if (binding.Key.Length == 0)
        {
            services.TryAddSingleton(sp => sp.GetRequiredKeyedService<RecoverableStreamsAdmin>(binding.Key));
        }
    }

    private static RecoverableStreamsAdmin Create(IServiceProvider services, ServiceBinding binding)
    {
        var options = services.GetRequiredService<IOptionsMonitor<RecoverableStreamOptions>>().Get(binding.Key);
        var connections = services.GetRequiredService<RedisConnectionProvider>();
        // The provider keeps a connection once it is made and nothing when it fails: each call asks again, so a failed
        // first connection is retried on the next call instead of being remembered until the host restarts.
        return new RecoverableStreamsAdmin(async cancellationToken => await connections.GetAsync(binding, cancellationToken).ConfigureAwait(false), options);
    }
}
