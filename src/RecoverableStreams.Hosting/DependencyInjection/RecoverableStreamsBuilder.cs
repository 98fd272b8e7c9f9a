using Microsoft.Extensions.DependencyInjection;

namespace RecoverableStreams.Hosting;

/// <summary>The builder <c>AddRecoverableRedisStreams</c> returns.</summary>
internal sealed class RecoverableStreamsBuilder(IServiceCollection services) : IRecoverableStreamsBuilder
{
    public IServiceCollection Services { get; } = services;
}
