using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RecoverableStreams.Hosting.DependencyInjection;
using RecoverableStreams.Hosting.Diagnostics;
using StackExchange.Redis;

namespace RecoverableStreams.Hosting.Connection;

/// <summary>
/// Finds each service's Redis connection, lazily (never in a constructor), the most explicit first: the service
/// section's <see cref="RecoverableStreamsHostingOptions.Configuration"/>; <c>ConnectionStrings:{name}</c>
/// (<c>ConnectionStrings:Redis</c> without a name); an <see cref="IConnectionMultiplexer"/> registered with the
/// service's connection name as its key (as Aspire.StackExchange.Redis's <c>AddKeyedRedisClient</c> does); an unkeyed
/// one. An unkeyed multiplexer is last because it is anybody's (Aspire's <c>AddRedisClient("cache")</c> registers the
/// cache server's): it must never silently win over a connection the service names. Services on the same connection
/// string share one multiplexer.
/// Only a connection created here is disposed here.
/// </summary>
internal sealed class RedisConnectionProvider(IServiceProvider services) : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ConcurrentDictionary<string, IConnectionMultiplexer> _connections = new(StringComparer.Ordinal);
    private readonly List<ConnectionMultiplexer> _owned = [];

    public async Task<IConnectionMultiplexer> GetAsync(ServiceBinding binding, CancellationToken cancellationToken)
    {
        var logger = services.GetService<ILoggerFactory>()?.CreateLogger<RedisConnectionProvider>() ?? NullLogger<RedisConnectionProvider>.Instance;
        var configuration = ConfigurationString(services, binding);
        if (string.IsNullOrWhiteSpace(configuration))
        {
            if (binding.ConnectionName is { } key && services.GetKeyedService<IConnectionMultiplexer>(key) is { } keyed)
            {
                return keyed;
            }

            if (services.GetService<IConnectionMultiplexer>() is { } registered)
            {
                Log.UsingRegisteredConnection(logger);
                return registered;
            }

            throw new InvalidOperationException(
                $"No Redis connection for {binding.DisplayName}: register an IConnectionMultiplexer, or set {binding.DisplayName}:Configuration or ConnectionStrings:{binding.ConnectionStringName}.");
        }

        if (_connections.TryGetValue(configuration, out var known))
        {
            return known;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_connections.TryGetValue(configuration, out known))
            {
                return known;
            }

            ConfigurationOptions parsed;
            try
            {
                parsed = ConfigurationOptions.Parse(configuration);
            }
            catch (ArgumentException ex)
            {
                // The parser's message may quote the string; never let a password through.
                throw new InvalidOperationException($"The Redis configuration string '{ConnectionStringRedactor.Redact(configuration)}' is invalid: {ConnectionStringRedactor.Redact(ex.Message)}");
            }

            // Connect in the background and keep reconnecting: a Redis that is down at start-up is not fatal.
            parsed.AbortOnConnectFail = false;
            var display = parsed.ToString(includePassword: false);
            Log.Connecting(logger, display);
            ConnectionMultiplexer created;
            try
            {
                created = await ConnectionMultiplexer.ConnectAsync(parsed).WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (RedisException ex)
            {
                throw new InvalidOperationException($"Connecting to Redis at '{display}' failed: {ConnectionStringRedactor.Redact(ex.Message)}", ex);
            }

            _owned.Add(created);
            _connections[configuration] = created;
            return created;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>True when a connection can be found for the service, checked without resolving or connecting anything.</summary>
    public static bool CanConnect(IServiceProvider services, ServiceBinding binding)
    {
        var isService = services.GetService<IServiceProviderIsService>();
        if (binding.ConnectionName is { } key && isService is IServiceProviderIsKeyedService keyed && keyed.IsKeyedService(typeof(IConnectionMultiplexer), key))
        {
            return true;
        }

        return isService?.IsService(typeof(IConnectionMultiplexer)) == true || !string.IsNullOrWhiteSpace(ConfigurationString(services, binding));
    }

    private static string? ConfigurationString(IServiceProvider services, ServiceBinding binding)
    {
        var explicitConfiguration = services.GetService<IOptionsMonitor<RecoverableStreamsHostingOptions>>()?.Get(binding.Key).Configuration;
        return !string.IsNullOrWhiteSpace(explicitConfiguration)
            ? explicitConfiguration
            : services.GetService<IConfiguration>()?.GetConnectionString(binding.ConnectionStringName);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in _owned)
        {
            await owned.DisposeAsync().ConfigureAwait(false);
        }

        _gate.Dispose();
    }
}
