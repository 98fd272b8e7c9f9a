using Microsoft.Extensions.DependencyInjection;
using RecoverableStreams;
using RecoverableStreams.Hosting;
using RecoverableStreams.Hosting.DependencyInjection;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Adds RecoverableStreams to an application builder (<c>Host.CreateApplicationBuilder</c>,
/// <c>WebApplication.CreateBuilder</c>) by connection name, as Aspire's client integrations do.
/// </summary>
public static class RecoverableStreamsHostApplicationBuilderExtensions
{
    /// <summary>
    /// Adds the stream worker of the default service: binds the <c>RecoverableStreams</c> section, then applies
    /// <paramref name="configure"/>, then validates when the host starts. The Redis connection is, the most explicit
    /// first, <c>RecoverableStreams:Configuration</c>, else the connection string <c>ConnectionStrings:{connectionName}</c>,
    /// else an <c>IConnectionMultiplexer</c> registered with <paramref name="connectionName"/> as its key (Aspire's
    /// <c>AddKeyedRedisClient(connectionName)</c>), else an unkeyed registered one (<c>AddRedisClient</c>).
    /// </summary>
    /// <param name="builder">The application builder.</param>
    /// <param name="connectionName">The connection name: the key of a registered multiplexer, or of <c>ConnectionStrings</c>.</param>
    /// <param name="configure">Sets options in code, after the configuration section.</param>
    /// <returns>A builder to add handlers with.</returns>
    public static IRecoverableStreamsBuilder AddRecoverableRedisStreams(this IHostApplicationBuilder builder, string connectionName, Action<RecoverableStreamOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(connectionName);
        return RecoverableStreamsServiceCollectionExtensions.AddService(
            builder.Services,
            new ServiceBinding(Options.Options.DefaultName, connectionName, RecoverableStreamsServiceCollectionExtensions.DefaultSection),
            configure);
    }

    /// <summary>
    /// Adds one more stream service to the host, named <paramref name="serviceKey"/>: its own section
    /// <c>RecoverableStreams:{serviceKey}</c>, options (named <paramref name="serviceKey"/>), worker, handlers and health
    /// check (<c>AddKeyedRecoverableStreamsHealthCheck</c>); the connection is found as for
    /// <see cref="AddRecoverableRedisStreams(IHostApplicationBuilder, string, Action{RecoverableStreamOptions}?)"/>.
    /// </summary>
    /// <param name="builder">The application builder.</param>
    /// <param name="serviceKey">Names this service in configuration, options, health checks and logs.</param>
    /// <param name="connectionName">The connection name: the key of a registered multiplexer, or of <c>ConnectionStrings</c>.</param>
    /// <param name="configure">Sets options in code, after the configuration section.</param>
    /// <returns>A builder to add this service's handlers with.</returns>
    public static IRecoverableStreamsBuilder AddKeyedRecoverableRedisStreams(this IHostApplicationBuilder builder, string serviceKey, string connectionName, Action<RecoverableStreamOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(serviceKey);
        ArgumentException.ThrowIfNullOrEmpty(connectionName);
        return RecoverableStreamsServiceCollectionExtensions.AddService(builder.Services, KeyedBinding(serviceKey, connectionName), configure);
    }

    /// <summary>
    /// Registers an <see cref="IStreamPublisher"/> for a producer-only application (no worker): the options come from the
    /// <c>RecoverableStreams</c> section then <paramref name="configure"/> (use the consumers' <c>ServiceName</c> and
    /// <c>Database</c>), the connection as for <see cref="AddRecoverableRedisStreams(IHostApplicationBuilder, string, Action{RecoverableStreamOptions}?)"/>.
    /// A worker of the same application registers its publisher with <c>AddRecoverableStreamPublisher()</c> on its builder instead.
    /// </summary>
    /// <param name="builder">The application builder.</param>
    /// <param name="connectionName">The connection name: the key of a registered multiplexer, or of <c>ConnectionStrings</c>.</param>
    /// <param name="configure">Sets options in code, after the configuration section.</param>
    /// <returns>The application builder.</returns>
    public static IHostApplicationBuilder AddRecoverableStreamPublisher(this IHostApplicationBuilder builder, string connectionName, Action<RecoverableStreamOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(connectionName);
        var binding = RecoverableStreamsServiceCollectionExtensions.FindOrAddBinding(
            builder.Services,
            new ServiceBinding(Options.Options.DefaultName, connectionName, RecoverableStreamsServiceCollectionExtensions.DefaultSection));
        if (configure is not null)
        {
            builder.Services.Configure(binding.Key, configure);
        }

        RecoverableStreamsBuilderExtensions.AddPublisher(builder.Services, binding);
        return builder;
    }

    internal static ServiceBinding KeyedBinding(string serviceKey, string connectionName) =>
        new(serviceKey, connectionName, sp => RecoverableStreamsServiceCollectionExtensions.DefaultSection(sp)?.GetSection(serviceKey));
}
