using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using RecoverableStreams;
using RecoverableStreams.Hosting;
using RecoverableStreams.Hosting.Configuration;
using RecoverableStreams.Hosting.Connection;
using RecoverableStreams.Hosting.DependencyInjection;
using RecoverableStreams.Hosting.Diagnostics;
using RecoverableStreams.Hosting.Health;
using RecoverableStreams.Hosting.Lifecycle;
using RecoverableStreams.Hosting.Processing;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the RecoverableStreams worker in a Generic Host.</summary>
public static class RecoverableStreamsServiceCollectionExtensions
{
    /// <summary>The configuration section bound by default: <c>RecoverableStreams</c> (<c>RecoverableStreams:{serviceKey}</c> for a keyed service).</summary>
    public const string DefaultSectionName = "RecoverableStreams";

    /// <summary>
    /// Adds a background worker that owns the service's data streams and runs a handler for each one. Binds the
    /// <c>RecoverableStreams</c> section of the application's configuration, then applies <paramref name="configure"/>,
    /// then validates when the host starts (a bad option stops the host with a message naming it; an unknown key is
    /// logged, see <see cref="RecoverableStreamsHostingOptions.UnknownConfigurationKeys"/>). Connects with a registered
    /// <c>IConnectionMultiplexer</c>, else <c>RecoverableStreams:Configuration</c>, else <c>ConnectionStrings:Redis</c>.
    /// <see cref="RecoverableStreamOptions.AutoClaim"/> is always <see langword="true"/>.
    /// </summary>
    /// <param name="services">The application's services.</param>
    /// <param name="configure">Sets options in code, after the configuration section.</param>
    /// <returns>A builder to add handlers with.</returns>
    public static IRecoverableStreamsBuilder AddRecoverableRedisStreams(this IServiceCollection services, Action<RecoverableStreamOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        return AddService(services, new ServiceBinding(Options.Options.DefaultName, null, DefaultSection), configure);
    }

    /// <summary>
    /// Same as <see cref="AddRecoverableRedisStreams(IServiceCollection, Action{RecoverableStreamOptions}?)"/>, binding
    /// <paramref name="configuration"/> (a section) instead of the default section.
    /// </summary>
    /// <param name="services">The application's services.</param>
    /// <param name="configuration">The section to bind.</param>
    /// <param name="configure">Sets options in code, after the configuration section.</param>
    /// <returns>A builder to add handlers with.</returns>
    public static IRecoverableStreamsBuilder AddRecoverableRedisStreams(this IServiceCollection services, IConfiguration configuration, Action<RecoverableStreamOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        return AddService(services, new ServiceBinding(Options.Options.DefaultName, null, _ => configuration), configure);
    }

    internal static IConfiguration? DefaultSection(IServiceProvider services) => services.GetService<IConfiguration>()?.GetSection(DefaultSectionName);

    /// <summary>
    /// Registers one stream service: its named options (bound, configured, validated on start), its worker and its
    /// runtime. A second call for the same key adds only the code delegate.
    /// </summary>
    internal static RecoverableStreamsBuilder AddService(IServiceCollection services, ServiceBinding binding, Action<RecoverableStreamOptions>? configure)
    {
        binding = FindOrAddBinding(services, binding);
        if (!services.Any(d => d.ServiceType == typeof(WorkerRegistration) && d.ImplementationInstance is WorkerRegistration w && w.Key == binding.Key))
        {
            var registered = binding;
            services.AddSingleton(new WorkerRegistration(binding.Key));
            services.AddSingleton<IHostedService>(sp => new RecoverableStreamsWorker(sp, registered));

            // A worker's health check by default (Aspire's model): DisableHealthChecks turns it off.
            services.AddHealthChecks();
            services.AddSingleton<IPostConfigureOptions<HealthCheckServiceOptions>>(sp => new DefaultHealthCheck(registered, sp));
        }

        if (configure is not null)
        {
            services.Configure(binding.Key, configure);
        }

        return new RecoverableStreamsBuilder(services, binding);
    }

    /// <summary>
    /// Registers a service's binding and options, without a worker (a producer-only application needs no more), unless
    /// the key has them already; returns the binding in force.
    /// </summary>
    internal static ServiceBinding FindOrAddBinding(IServiceCollection services, ServiceBinding binding)
    {
        var existing = services
            .Where(d => d.ServiceType == typeof(ServiceBinding) && d.ImplementationInstance is ServiceBinding b && b.Key == binding.Key)
            .Select(d => (ServiceBinding)d.ImplementationInstance!)
            .LastOrDefault();
        if (existing is not null)
        {
            return existing;
        }

        services.AddSingleton(binding);

        // Order matters: the section first, then the code delegates, then what the hosting layer forces.
        services.AddSingleton<IConfigureOptions<RecoverableStreamOptions>>(sp => new ConfigureFromSection<RecoverableStreamOptions>(binding, sp));
        services.AddSingleton<IConfigureOptions<RecoverableStreamsHostingOptions>>(sp => new ConfigureFromSection<RecoverableStreamsHostingOptions>(binding, sp));
        services.PostConfigure<RecoverableStreamOptions>(binding.Key, options => options.AutoClaim = true);
        services.AddOptions<RecoverableStreamOptions>(binding.Key).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RecoverableStreamOptions>, ValidateRecoverableStreamOptions>());

        services.TryAddSingleton<RedisConnectionProvider>();
        services.TryAddSingleton<RecoverableStreamsRuntimes>();
        services.TryAddSingleton<HostingMetrics>();
        services.TryAddSingleton<LifecycleNotifier>();
        OpenTelemetryDefaults.Add(services);
        AdminRegistration.Add(services, binding);
        return binding;
    }

    /// <summary>Marks a service key whose worker is registered, so a second call adds no second worker.</summary>
    private sealed record WorkerRegistration(string Key);
}
