using System.Security.Authentication;
using StackExchange.Redis;

namespace RecoverableStreams.Cli;

/// <summary>A command line that cannot run; its message says what to type instead.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>The connection could not be made; the message names the end points only (never the password).</summary>
internal sealed class CannotConnectException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// Builds the connection from the options and the environment. The password never comes from the command line
/// (argv is visible to every user of the machine in <c>ps</c> and lands in shell histories): it comes from
/// <c>--password-file</c>, else <c>RSTREAMS_PASSWORD</c>, else a prompt (<c>--ask-password</c>).
/// </summary>
internal static class ConnectionSettings
{
    public const string RedisVariable = "RSTREAMS_REDIS";
    public const string PasswordVariable = "RSTREAMS_PASSWORD";

    public static ConfigurationOptions Build(GlobalSettings settings, CliConsole console)
    {
        var fromArgs = settings.Redis is not null;
        var configuration = settings.Redis ?? console.Environment(RedisVariable);
        if (string.IsNullOrWhiteSpace(configuration))
        {
            throw new UsageException($"Where is Redis? Pass --redis <host:port,...> or set {RedisVariable}.");
        }

        ConfigurationOptions options;
        try
        {
            options = ConfigurationOptions.Parse(configuration);
        }
        catch (ArgumentException ex)
        {
            throw new UsageException("--redis is not a valid configuration: " + ex.Message.Replace(configuration, "(the configuration)", StringComparison.Ordinal));
        }

        if (fromArgs && options.Password is not null)
        {
            throw new UsageException($"--redis must not carry a password (the command line is visible to other users): use --password-file <path>, {PasswordVariable}, or --ask-password.");
        }

        if (settings.PasswordFile is { } file)
        {
            try
            {
                options.Password = File.ReadAllText(file).TrimEnd('\r', '\n');
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"--password-file {file} cannot be read: {ex.Message}");
            }
        }
        else if (console.Environment(PasswordVariable) is { Length: > 0 } password)
        {
            options.Password = password;
        }
        else if (settings.AskPassword)
        {
            options.Password = console.ReadSecret("Redis password" + (options.User is { } user ? $" for {user}" : "") + ":")
                ?? throw new UsageException("--ask-password needs a terminal.");
        }

        if (settings.User is { } named)
        {
            options.User = named;
        }

        if (settings.TlsCa is { } ca)
        {
            if (!File.Exists(ca))
            {
                throw new UsageException($"--tls-ca {ca}: no such file.");
            }

            // Trust the private CA for this connection only (the machine's store is left alone), and use TLS.
            options.Ssl = true;
            options.SslProtocols ??= SslProtocols.Tls12 | SslProtocols.Tls13;
            options.TrustIssuer(ca);
        }

        if (settings.Tls)
        {
            options.Ssl = true;
        }

        // A command line tool reports an unreachable server at once instead of retrying in the background.
        options.AbortOnConnectFail = true;
        options.ClientName ??= "rstreams";
        // StackExchange.Redis' primary-election helpers (a GET of a tie-breaker key, a config channel) serve long-lived
        // multi-primary set-ups; a one-command tool does not need them, and the operator ACL users do not grant them.
        options.TieBreaker = "";
        options.ConfigurationChannel = "";
        return options;
    }

    public static async Task<ConnectionMultiplexer> ConnectAsync(ConfigurationOptions options)
    {
        try
        {
            return await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
        }
        catch (RedisConnectionException ex)
        {
            // Only the end points: the configuration may hold a password.
            var endPoints = string.Join(", ", options.EndPoints.Select(e => e.ToString()));
            var why = ex.FailureType == ConnectionFailureType.AuthenticationFailure ? "the user or password was refused" : ex.FailureType.ToString();
            throw new CannotConnectException($"cannot connect to Redis at {endPoints} ({why}). Check --redis or {RedisVariable}, the password and the TLS options.", ex);
        }
    }
}
