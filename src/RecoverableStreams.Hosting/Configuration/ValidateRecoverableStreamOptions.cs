using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RecoverableStreams.Hosting.Connection;
using RecoverableStreams.Hosting.DependencyInjection;
using RecoverableStreams.Hosting.Diagnostics;

namespace RecoverableStreams.Hosting.Configuration;

/// <summary>
/// Runs the core's rules (<see cref="RecoverableStreamOptions.Validate"/>, whose messages name the option and the
/// rule), the hosting settings' rules, the unknown-key check, and checks that a Redis connection can be found, when
/// the host starts. Each service (options name) is validated on its own.
/// </summary>
internal sealed class ValidateRecoverableStreamOptions(IServiceProvider services) : IValidateOptions<RecoverableStreamOptions>
{
    public ValidateOptionsResult Validate(string? name, RecoverableStreamOptions options)
    {
        var bindings = services.GetServices<ServiceBinding>().ToList();
        var binding = ServiceBinding.Find(bindings, name);
        if (binding is null)
        {
            // Options no AddRecoverableRedisStreams call registered (someone else's named options): not ours to judge.
            return ValidateOptionsResult.Skip;
        }

        var prefix = binding.DisplayName + ": ";
        var errors = options.Validate().Select(error => prefix + error).ToList();
        var hosting = services.GetRequiredService<IOptionsMonitor<RecoverableStreamsHostingOptions>>().Get(binding.Key);
        errors.AddRange(ValidateHosting(hosting).Select(error => prefix + error));
        if (!RedisConnectionProvider.CanConnect(services, binding))
        {
            errors.Add(prefix + $"Configuration is required when no IConnectionMultiplexer is registered and ConnectionStrings:{binding.ConnectionStringName} is not set: set one of the three.");
        }

        CheckUnknownKeys(binding, bindings, hosting.UnknownConfigurationKeys, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    internal static IEnumerable<string> ValidateHosting(RecoverableStreamsHostingOptions hosting)
    {
        if (hosting.MaxDeliveryAttempts < 1)
        {
            yield return "MaxDeliveryAttempts must be at least 1.";
        }

        if (hosting.MaxOutageRetryDuration <= TimeSpan.Zero)
        {
            yield return "MaxOutageRetryDuration must be positive.";
        }

        if (hosting.MaxConfigurationOutageRetryDuration <= TimeSpan.Zero)
        {
            yield return "MaxConfigurationOutageRetryDuration must be positive.";
        }

        foreach (var error in ValidateRetry(hosting.HandlerRetry))
        {
            yield return error;
        }
    }

    internal static IEnumerable<string> ValidateRetry(HandlerRetryOptions retry)
    {
        if (retry.InitialDelay <= TimeSpan.Zero)
        {
            yield return $"HandlerRetry:InitialDelay must be positive (is {retry.InitialDelay}).";
        }

        if (retry.MaxDelay < retry.InitialDelay)
        {
            yield return $"HandlerRetry:MaxDelay ({retry.MaxDelay}) must be at least HandlerRetry:InitialDelay ({retry.InitialDelay}).";
        }

        if (double.IsNaN(retry.Jitter) || retry.Jitter < 0 || retry.Jitter > 1)
        {
            yield return $"HandlerRetry:Jitter must be between 0 and 1 (is {retry.Jitter}).";
        }
    }

    private void CheckUnknownKeys(ServiceBinding binding, List<ServiceBinding> bindings, UnknownConfigurationKeyHandling handling, List<string> errors)
    {
        if (handling == UnknownConfigurationKeyHandling.Ignore || binding.Section(services) is not { } section)
        {
            return;
        }

        // The default section holds the keyed services' sections as children: those are not unknown keys.
        var childServices = binding.Key.Length == 0 ? bindings.Where(b => b.Key.Length > 0).Select(b => b.Key) : [];
        var unknown = UnknownConfigurationKeys.Find(section, childServices);
        if (unknown.Count == 0)
        {
            return;
        }

        var keys = string.Join(", ", unknown);
        if (handling == UnknownConfigurationKeyHandling.Error)
        {
            errors.Add($"{binding.DisplayName}: unknown configuration key(s) {keys} match no option (UnknownConfigurationKeys is Error).");
            return;
        }

        var logger = services.GetService<ILoggerFactory>()?.CreateLogger<ValidateRecoverableStreamOptions>() ?? NullLogger<ValidateRecoverableStreamOptions>.Instance;
        Log.UnknownConfigurationKeys(logger, binding.DisplayName, keys);
    }
}
