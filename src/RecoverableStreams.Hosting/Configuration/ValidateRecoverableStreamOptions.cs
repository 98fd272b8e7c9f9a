using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace RecoverableStreams.Hosting.Configuration;

/// <summary>
/// Runs the core's rules (<see cref="RecoverableStreamOptions.Validate"/>, whose messages name the option and the
/// rule) and checks that a Redis connection can be found, when the host starts.
/// </summary>
internal sealed class ValidateRecoverableStreamOptions(IServiceProvider services) : IValidateOptions<RecoverableStreamOptions>
{
    public ValidateOptionsResult Validate(string? name, RecoverableStreamOptions options)
    {
        var errors = options.Validate().Select(error => "RecoverableStreams: " + error).ToList();
        if (!HasConnection(options))
        {
            errors.Add("RecoverableStreams: Configuration is required when no IConnectionMultiplexer is registered and ConnectionStrings:Redis is not set: set one of the three.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private bool HasConnection(RecoverableStreamOptions options)
    {
        // Checked without resolving: a registered multiplexer may connect when it is created.
        if (services.GetService<IServiceProviderIsService>()?.IsService(typeof(IConnectionMultiplexer)) == true)
        {
            return true;
        }

        return !string.IsNullOrWhiteSpace(options.Configuration)
            || !string.IsNullOrWhiteSpace(services.GetService<IConfiguration>()?.GetConnectionString("Redis"));
    }
}
