using Microsoft.Extensions.Diagnostics.HealthChecks;
using RecoverableStreams.Hosting.Processing;
using StackExchange.Redis;

namespace RecoverableStreams.Hosting.Health;

/// <summary>Unhealthy when Redis does not answer PING or the client is not running; healthy otherwise.</summary>
internal sealed class RecoverableStreamsHealthCheck(RecoverableStreamsRuntime? runtime, string? serviceKey = null) : IHealthCheck
{
    private static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(5);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var failure = context.Registration.FailureStatus;
        if (runtime is null)
        {
            return new HealthCheckResult(failure, serviceKey is null ? "AddRecoverableRedisStreams was not called." : $"AddKeyedRecoverableRedisStreams(\"{serviceKey}\", ...) was not called.");
        }

        var client = runtime.Client;
        var connection = runtime.Connection;
        if (client is null || connection is null)
        {
            return new HealthCheckResult(failure, runtime.LastError is null ? "The stream client has not started yet." : "The stream client failed to start: " + runtime.LastError);
        }

        var data = new Dictionary<string, object>
        {
            ["consumerId"] = client.ConsumerId,
            ["ownedStreams"] = client.OwnedStreams.Count,
        };

        TimeSpan latency;
        try
        {
            latency = await connection.GetDatabase().PingAsync().WaitAsync(PingTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return new HealthCheckResult(failure, "Redis does not answer PING: " + ex.Message, ex, data);
        }

        data["pingMilliseconds"] = latency.TotalMilliseconds;
        if (runtime.Stopping || !client.IsRunning)
        {
            return new HealthCheckResult(failure, runtime.LastError is null ? "The stream client is stopped." : "The stream client stopped: " + runtime.LastError, data: data);
        }

        return HealthCheckResult.Healthy($"Consumer {client.ConsumerId} owns {client.OwnedStreams.Count} stream(s).", data);
    }
}
