using System.Globalization;

namespace RecoverableStreams.Configuration;

/// <summary>Where a consumer's name comes from when the options do not give one (see <see cref="RecoverableStreamOptions.ConsumerId"/>).</summary>
internal static class ConsumerIdentity
{
    public const string Prefix = "redis-consumer-";

    public static string Resolve(string? configured, Func<string, string?>? environment = null)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }

        environment ??= Environment.GetEnvironmentVariable;
        var podName = environment("POD_NAME");
        if (!string.IsNullOrWhiteSpace(podName))
        {
            return Prefix + podName;
        }

        var podIp = environment("POD_IP");
        if (!string.IsNullOrWhiteSpace(podIp))
        {
            return Prefix + podIp;
        }

        return Prefix + Environment.MachineName + "-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// A random suffix per process start, stored in lease values, so two processes sharing one consumer id never
    /// renew each other's leases.
    /// </summary>
    public static string NewInstanceId() => Guid.NewGuid().ToString("N")[..12];
}
