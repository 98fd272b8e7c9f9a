using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
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
        // One connection for the handler's own writes and the hosting layer (which reuses a registered multiplexer).
        // Connecting in the background: a Redis that is not up yet at start-up is retried, not fatal.
        services.AddSingleton<IConnectionMultiplexer>(_ =>
        {
            var options = ConfigurationOptions.Parse(connectionString);
            options.AbortOnConnectFail = false;
            return ConnectionMultiplexer.Connect(options);
        });
        services.AddSingleton<SummaryWriter>();
        services.AddRecoverableRedisStreams(configuration.GetSection("RecoverableStreams"))
            .AddHandler<TelemetryAggregator>();

        // The host reads its shutdown timeout from HostOptions only when it is bound: without this line the
        // "HostOptions:ShutdownTimeout" of deploy/kubernetes/configmap.yaml would be ignored (default 30 s).
        services.Configure<HostOptions>(configuration.GetSection("HostOptions"));

        // Probes on a port of their own (deploy/kubernetes/deployment.yaml); off unless HealthProbe:Port is set.
        services.AddHealthChecks().AddRecoverableStreamsHealthCheck();
        if (configuration.GetValue<int?>("HealthProbe:Port") is { } port)
        {
            services.AddHostedService(sp => ActivatorUtilities.CreateInstance<HealthProbeListener>(sp, port));
        }

        return services;
    }
}
