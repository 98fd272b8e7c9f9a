using Microsoft.Extensions.DependencyInjection.Extensions;
using RecoverableStreams.Hosting;
using RecoverableStreams.Hosting.Routing;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds handlers to the RecoverableStreams worker.</summary>
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
        return Add(builder, new HandlerRegistration(null, typeof(THandler)));
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
        return Add(builder, new HandlerRegistration(streamNamePattern, typeof(THandler)));
    }

    private static IRecoverableStreamsBuilder Add(IRecoverableStreamsBuilder builder, HandlerRegistration registration)
    {
        foreach (var descriptor in builder.Services)
        {
            if (descriptor.ServiceType == typeof(HandlerRegistration) && descriptor.ImplementationInstance is HandlerRegistration existing
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
