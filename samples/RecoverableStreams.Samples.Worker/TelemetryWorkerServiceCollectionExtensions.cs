using Microsoft.Extensions.Configuration;
using RecoverableStreams.Samples.Worker;
using StackExchange.Redis;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the telemetry worker; shared by the worker and the web API sample.</summary>
public static class TelemetryWorkerServiceCollectionExtensions
{
    /// <summary>
    /// Connects to <c>ConnectionStrings:Redis</c>, binds <c>RecoverableStreams</c> and routes every stream to
    /// <see cref="TelemetryAggregator"/>.
    /// </summary>
    public static IServiceCollection AddTelemetryWorker(this IServiceCollection services, IConfiguration configuration)
    {
        var connectionString = configuration.GetConnectionString("Redis")
            ?? throw new InvalidOperationException("ConnectionStrings:Redis is not set (environment: ConnectionStrings__Redis).");
        services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(connectionString));
        services.AddSingleton<SummaryWriter>();
        services.AddRecoverableRedisStreams(configuration.GetSection("RecoverableStreams"))
            .AddHandler<TelemetryAggregator>();
        return services;
    }
}
