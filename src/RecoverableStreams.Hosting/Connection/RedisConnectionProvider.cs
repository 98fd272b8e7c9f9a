using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RecoverableStreams.Hosting.Diagnostics;
using StackExchange.Redis;

namespace RecoverableStreams.Hosting.Connection;

/// <summary>
/// Finds the Redis connection, lazily (never in a constructor): an <see cref="IConnectionMultiplexer"/> registered
/// in DI is reused; otherwise one is created from <see cref="RecoverableStreamOptions.Configuration"/> or, when that is
/// not set, <c>ConnectionStrings:Redis</c>. Only a connection created here is disposed here.
/// </summary>
internal sealed class RedisConnectionProvider(IServiceProvider services) : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IConnectionMultiplexer? _connection;
    private ConnectionMultiplexer? _owned;

    public async Task<IConnectionMultiplexer> GetAsync(RecoverableStreamOptions options, CancellationToken cancellationToken)
    {
        if (_connection is { } known)
        {
            return known;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_connection is not null)
            {
                return _connection;
            }

            var logger = services.GetService<ILoggerFactory>()?.CreateLogger<RedisConnectionProvider>() ?? NullLogger<RedisConnectionProvider>.Instance;
            if (services.GetService<IConnectionMultiplexer>() is { } registered)
            {
                Log.UsingRegisteredConnection(logger);
                _connection = registered;
                return registered;
            }

            var configuration = !string.IsNullOrWhiteSpace(options.Configuration)
                ? options.Configuration
                : services.GetService<IConfiguration>()?.GetConnectionString("Redis");
            if (string.IsNullOrWhiteSpace(configuration))
            {
                throw new InvalidOperationException("No Redis connection: register an IConnectionMultiplexer, or set RecoverableStreams:Configuration or ConnectionStrings:Redis.");
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
            try
            {
                _owned = await ConnectionMultiplexer.ConnectAsync(parsed).WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (RedisException ex)
            {
                throw new InvalidOperationException($"Connecting to Redis at '{display}' failed: {ConnectionStringRedactor.Redact(ex.Message)}", ex);
            }

            _connection = _owned;
            return _owned;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_owned is not null)
        {
            await _owned.DisposeAsync().ConfigureAwait(false);
        }

        _gate.Dispose();
    }
}
