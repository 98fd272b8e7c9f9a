using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using RecoverableStreams;
using RecoverableStreams.Hosting;
using RecoverableStreams.Hosting.Configuration;
using RecoverableStreams.Hosting.Connection;
using RecoverableStreams.Hosting.Diagnostics;
using RecoverableStreams.Hosting.Lifecycle;
using RecoverableStreams.Hosting.Processing;
using RecoverableStreams.Hosting.Routing;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the RecoverableStreams worker in a Generic Host.</summary>
public static class RecoverableStreamsServiceCollectionExtensions
{
    /// <summary>The configuration section bound by default: <c>RecoverableStreams</c>.</summary>
    public const string DefaultSectionName = "RecoverableStreams";

    /// <summary>
    /// Adds a background worker that owns the service's data streams and runs a handler for each one. Binds the
    /// <c>RecoverableStreams</c> section of the application's configuration (unknown keys are an error), then applies
    /// <paramref name="configure"/>, then validates when the host starts (a bad option stops the host with a message
    /// naming it). <see cref="RecoverableStreamOptions.AutoClaim"/> is always <see langword="true"/>.
    /// </summary>
    /// <param name="services">The application's services.</param>
    /// <param name="configure">Sets options in code, after the configuration section.</param>
    /// <returns>A builder to add handlers with.</returns>
    public static IRecoverableStreamsBuilder AddRecoverableRedisStreams(this IServiceCollection services, Action<RecoverableStreamOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        return AddCore(services, sp => sp.GetService<IConfiguration>()?.GetSection(DefaultSectionName), configure);
    }

    /// <summary>
    /// Same as <see cref="AddRecoverableRedisStreams(IServiceCollection, Action{RecoverableStreamOptions}?)"/>, binding
    /// <paramref name="configuration"/> (a section) instead of the default section.
    /// </summary>
    /// <param name="services">The application's services.</param>
    /// <param name="configuration">The section to bind; unknown keys are an error.</param>
    /// <param name="configure">Sets options in code, after the configuration section.</param>
    /// <returns>A builder to add handlers with.</returns>
    public static IRecoverableStreamsBuilder AddRecoverableRedisStreams(this IServiceCollection services, IConfiguration configuration, Action<RecoverableStreamOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        return AddCore(services, _ => configuration, configure);
    }

    private static RecoverableStreamsBuilder AddCore(IServiceCollection services, Func<IServiceProvider, IConfiguration?> section, Action<RecoverableStreamOptions>? configure)
    {
        // Order matters: the section first, then the code delegate, then what the hosting layer forces.
        services.AddSingleton<IConfigureOptions<RecoverableStreamOptions>>(sp => new ConfigureFromSection(section(sp)));
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.PostConfigure<RecoverableStreamOptions>(options => options.AutoClaim = true);
        services.AddOptions<RecoverableStreamOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RecoverableStreamOptions>, ValidateRecoverableStreamOptions>());

        services.TryAddSingleton<HandlerRouter>();
        services.TryAddSingleton<RedisConnectionProvider>();
        services.TryAddSingleton<RecoverableStreamsRuntime>();
        services.TryAddSingleton<HostingMetrics>();
        services.TryAddSingleton<LifecycleNotifier>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, RecoverableStreamsWorker>());
        return new RecoverableStreamsBuilder(services);
    }
}
