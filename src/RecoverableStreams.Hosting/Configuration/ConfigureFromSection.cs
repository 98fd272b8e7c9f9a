using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using RecoverableStreams.Hosting.DependencyInjection;

namespace RecoverableStreams.Hosting.Configuration;

/// <summary>
/// Binds one service's configuration section onto its options (<typeparamref name="TOptions"/> named by the service
/// key). Keys that match no option are not an error here: <see cref="UnknownConfigurationKeys"/> finds them and
/// <see cref="ValidateRecoverableStreamOptions"/> warns or fails as <see cref="RecoverableStreamsHostingOptions.UnknownConfigurationKeys"/> says.
/// </summary>
internal sealed class ConfigureFromSection<TOptions>(ServiceBinding binding, IServiceProvider services) : IConfigureNamedOptions<TOptions>
    where TOptions : class
{
    public void Configure(string? name, TOptions options)
    {
        if (!string.Equals(name ?? Options.DefaultName, binding.Key, StringComparison.Ordinal) || binding.Section(services) is not { } section)
        {
            return;
        }

        try
        {
            section.Bind(options);
        }
        catch (InvalidOperationException ex)
        {
            var path = section is IConfigurationSection named ? named.Path : "(root)";
            throw new InvalidOperationException($"Configuration section '{path}' cannot be bound to {typeof(TOptions).Name}: {ex.Message}", ex);
        }
    }

    public void Configure(TOptions options) => Configure(Options.DefaultName, options);
}
