using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace RecoverableStreams.Hosting.Configuration;

/// <summary>
/// Binds a configuration section onto the options, rejecting keys that match no option (a typo in appsettings.json
/// would otherwise be ignored silently).
/// </summary>
internal sealed class ConfigureFromSection(IConfiguration? section) : IConfigureOptions<RecoverableStreamOptions>
{
    public void Configure(RecoverableStreamOptions options)
    {
        if (section is null)
        {
            return;
        }

        try
        {
            section.Bind(options, binder => binder.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException ex)
        {
            var path = section is IConfigurationSection named ? named.Path : "(root)";
            throw new InvalidOperationException($"Configuration section '{path}' cannot be bound to RecoverableStreamOptions: {ex.Message}", ex);
        }
    }
}
