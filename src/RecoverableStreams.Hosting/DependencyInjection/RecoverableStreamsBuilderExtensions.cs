using Microsoft.Extensions.DependencyInjection.Extensions;
using RecoverableStreams;
using RecoverableStreams.Hosting;
using RecoverableStreams.Hosting.DependencyInjection;
using RecoverableStreams.Hosting.Publishing;
using RecoverableStreams.Hosting.Routing;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds handlers, a publisher and hosting settings to a RecoverableStreams service.</summary>
public static class RecoverableStreamsBuilderExtensions
{
    /// <summary>
    /// Adds the default handler: it works on every stream no pattern matches. Resolved from a new DI scope per stream
    /// (registered as scoped unless <typeparamref name="THandler"/> is registered already).
    /// </summary>
    /// <typeparam name="THandler">The handler.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException">A default handler is registered already.</exception>
    public static IRecoverableStreamsBuilder AddHandler<THandler>(this IRecoverableStreamsBuilder builder)
        where THandler : class, IStreamWorkHandler
    {
        ArgumentNullException.ThrowIfNull(builder);
        return Add(builder, new HandlerRegistration(null, typeof(THandler), RecoverableStreamsBuilder.KeyOf(builder)));
    }

    /// <summary>
    /// Adds a handler for the data streams whose name matches <paramref name="streamNamePattern"/>, a glob where
    /// <c>*</c> matches any run of characters and <c>?</c> any one character (case-sensitive, like Redis keys). When
    /// several patterns match, the most specific wins: fewest wildcards, then most literal characters. Resolved from
    /// a new DI scope per stream.
    /// </summary>
    /// <typeparam name="THandler">The handler.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="streamNamePattern">The glob, for example <c>orders:*</c>.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException">The pattern is empty, or registered already.</exception>
    public static IRecoverableStreamsBuilder AddHandler<THandler>(this IRecoverableStreamsBuilder builder, string streamNamePattern)
        where THandler : class, IStreamWorkHandler
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(streamNamePattern);
        return Add(builder, new HandlerRegistration(streamNamePattern, typeof(THandler), RecoverableStreamsBuilder.KeyOf(builder)));
    }

    /// <summary>
    /// Registers an <see cref="IStreamPublisher"/> that announces streams to this service (same <c>ServiceName</c>,
    /// <c>Database</c> and connection as its worker): unkeyed for the default service, keyed with the service key for
    /// a service added with <c>AddKeyedRecoverableRedisStreams</c>. Connects on first use.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <returns>The builder.</returns>
    public static IRecoverableStreamsBuilder AddRecoverableStreamPublisher(this IRecoverableStreamsBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var binding = builder is RecoverableStreamsBuilder known ? known.Binding : RecoverableStreamsServiceCollectionExtensions.FindOrAddBinding(
            builder.Services,
            new ServiceBinding(Options.Options.DefaultName, null, RecoverableStreamsServiceCollectionExtensions.DefaultSection));
        AddPublisher(builder.Services, binding);
        return builder;
    }

    /// <summary>
    /// Sets the hosting package's settings (handler retry back-off, unknown-key handling) in code, after the
    /// configuration section.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Changes the settings.</param>
    /// <returns>The builder.</returns>
    public static IRecoverableStreamsBuilder ConfigureHosting(this IRecoverableStreamsBuilder builder, Action<RecoverableStreamsHostingOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.Configure(RecoverableStreamsBuilder.KeyOf(builder), configure);
        return builder;
    }

    internal static void AddPublisher(IServiceCollection services, ServiceBinding binding)
    {
        if (binding.Key.Length == 0)
        {
            services.TryAddSingleton<IStreamPublisher>(sp => new HostedStreamPublisher(sp, binding));
        }
        else
        {
            services.TryAddKeyedSingleton<IStreamPublisher>(binding.Key, (sp, _) => new HostedStreamPublisher(sp, binding));
        }
    }

    private static IRecoverableStreamsBuilder Add(IRecoverableStreamsBuilder builder, HandlerRegistration registration)
    {
        foreach (var descriptor in builder.Services)
        {
            if (descriptor.ServiceType == typeof(HandlerRegistration) && descriptor.ImplementationInstance is HandlerRegistration existing
                && string.Equals(existing.ServiceKey, registration.ServiceKey, StringComparison.Ordinal)
                && string.Equals(existing.Pattern, registration.Pattern, StringComparison.Ordinal))
            {
                throw new ArgumentException(
                    registration.Pattern is null
                        ? $"A default handler ({existing.HandlerType.Name}) is registered already."
                        : $"The pattern '{registration.Pattern}' has a handler ({existing.HandlerType.Name}) already.",
                    registration.Pattern is null ? "THandler" : "streamNamePattern");
            }
        }

        builder.Services.TryAddScoped(registration.HandlerType);
        builder.Services.AddSingleton(registration);
        return builder;
    }
}
