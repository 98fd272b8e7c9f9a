using Microsoft.Extensions.DependencyInjection;
using RecoverableStreams.Hosting.DependencyInjection;

namespace RecoverableStreams.Hosting;

/// <summary>The builder <c>AddRecoverableRedisStreams</c> returns: the services and which stream service it adds to.</summary>
internal sealed class RecoverableStreamsBuilder(IServiceCollection services, ServiceBinding binding) : IRecoverableStreamsBuilder
{
    public IServiceCollection Services { get; } = services;

    public ServiceBinding Binding { get; } = binding;

    /// <summary>The service key of a builder; the default service for a builder implemented elsewhere.</summary>
    public static string KeyOf(IRecoverableStreamsBuilder builder) => builder is RecoverableStreamsBuilder known ? known.Binding.Key : "";
}
