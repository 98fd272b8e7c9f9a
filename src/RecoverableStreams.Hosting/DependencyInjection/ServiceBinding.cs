using Microsoft.Extensions.Configuration;

namespace RecoverableStreams.Hosting.DependencyInjection;

/// <summary>
/// One stream service of the host, as one <c>AddRecoverableRedisStreams</c> call (or its keyed form) registered it:
/// its key (the name of its options, <see cref="Microsoft.Extensions.Options.Options.DefaultName"/> for the default
/// service), the connection name it looks up, and the configuration section it binds.
/// </summary>
/// <param name="Key">The service key; empty for the default service.</param>
/// <param name="ConnectionName">
/// The connection name: a keyed <c>IConnectionMultiplexer</c> with this key, else <c>ConnectionStrings:{name}</c>;
/// <see langword="null"/> for the original <c>services.AddRecoverableRedisStreams()</c> (unkeyed, <c>ConnectionStrings:Redis</c>).
/// </param>
/// <param name="Section">Finds the section to bind, or <see langword="null"/> when there is none.</param>
internal sealed record ServiceBinding(string Key, string? ConnectionName, Func<IServiceProvider, IConfiguration?> Section)
{
    /// <summary>The connection string name used when no connection name was given.</summary>
    public const string DefaultConnectionStringName = "Redis";

    public string ConnectionStringName => ConnectionName ?? DefaultConnectionStringName;

    /// <summary>How logs, health checks and errors name the service: <c>RecoverableStreams</c> or <c>RecoverableStreams:{key}</c>.</summary>
    public string DisplayName => Key.Length == 0 ? "RecoverableStreams" : "RecoverableStreams:" + Key;

    public static ServiceBinding? Find(IEnumerable<ServiceBinding> bindings, string? key)
    {
        key ??= "";
        ServiceBinding? found = null;
        foreach (var binding in bindings)
        {
            if (string.Equals(binding.Key, key, StringComparison.Ordinal))
            {
                found = binding;
            }
        }

        return found;
    }
}
