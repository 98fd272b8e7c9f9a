using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace RecoverableStreams.Samples.Api;

/// <summary>Healthy while Redis answers a PING: announcing streams needs nothing more.</summary>
public sealed class RedisHealthCheck(IConnectionMultiplexer redis, IOptions<RecoverableStreamOptions> options) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var latency = await redis.GetDatabase(options.Value.Database).PingAsync();
            return HealthCheckResult.Healthy($"PING {latency.TotalMilliseconds:0.0} ms");
        }
        catch (RedisException ex)
        {
            return HealthCheckResult.Unhealthy("Redis does not answer.", ex);
        }
    }
}
