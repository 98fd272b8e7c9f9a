using RecoverableStreams.Administration;
using Spectre.Console;
using StackExchange.Redis;

namespace RecoverableStreams.Cli;

/// <summary>Exit codes: a contract for scripts that call the tool.</summary>
internal static class ExitCodes
{
    /// <summary>Done.</summary>
    public const int Ok = 0;

    /// <summary>Done, but nothing matched: the stream had no owner, or a dead letter did not exist.</summary>
    public const int NotFound = 1;

    /// <summary>The command line is wrong; the message says what to type.</summary>
    public const int Usage = 2;

    /// <summary>Redis could not be reached or refused the command.</summary>
    public const int Redis = 3;
}

/// <summary>
/// The <c>rstreams</c> tool: parses the command line, connects, runs one command of the operator API and prints it.
/// Output goes to <c>output</c> (tables), errors to <c>error</c>; both are parameters so tests run it in-process.
/// </summary>
internal static class CliApp
{
    public const string Usage = """
        rstreams: operate a RecoverableStreams service.

        Usage: rstreams <command> [options]

        Commands:
          status                        LBS length, lag, pending, dead letters, and each consumer's heartbeat
          owners                        every owned stream: consumer, session, fencing token, deadline
          dlq list [--count N] [--after ID]
                                        dead letters, oldest first, one page (default 50)
          dlq replay <id>... | --all    announce dead letters again (new LBS entries), then remove them
          dlq purge <id>... | --all     delete dead letters for good
          release <stream>              force-release a stream (data stream name or LBS id): peers take it over

        Options:
          --redis <config>      StackExchange.Redis configuration, e.g. localhost:6379,password=...  (env RSTREAMS_REDIS)
          --service <name>      the service name the consumers use                                  (env RSTREAMS_SERVICE)
          --database <n>        the Redis database (default: the configuration's)
          --lbs-key <key>       LbsStreamKey override, when the consumers set one
          --group <name>        ConsumerGroup override, when the consumers set one
          -h, --help            this text

        Exit codes: 0 done, 1 nothing matched (no owner, no such dead letter), 2 wrong command line, 3 Redis error.
        """;

    public static async Task<int> RunAsync(string[] args, IAnsiConsole output, TextWriter error, Func<string, string?> environment)
    {
        CommandLine line;
        try
        {
            line = CommandLine.Parse(args);
            if (line.Help)
            {
                output.Write(new Text(Usage + Environment.NewLine));
                return line.Words.Count == 0 && !args.Contains("--help") && !args.Contains("-h") ? ExitCodes.Usage : ExitCodes.Ok;
            }

            Validate(line);
        }
        catch (UsageException ex)
        {
            await error.WriteLineAsync("rstreams: " + ex.Message).ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        ConnectionMultiplexer redis;
        RecoverableStreamOptions options;
        try
        {
            options = line.ServiceOptions(environment);
            redis = await ConnectAsync(line.RedisConfiguration(environment)).ConfigureAwait(false);
        }
        catch (UsageException ex)
        {
            await error.WriteLineAsync("rstreams: " + ex.Message).ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (CannotConnectException ex)
        {
            await error.WriteLineAsync("rstreams: " + ex.Message).ConfigureAwait(false);
            return ExitCodes.Redis;
        }

        await using (redis.ConfigureAwait(false))
        {
            try
            {
                var admin = new RecoverableStreamsAdmin(redis, options);
                var commands = new Commands(admin, output);
                return line.Words switch
                {
                    ["status"] => await commands.StatusAsync().ConfigureAwait(false),
                    ["owners"] => await commands.OwnersAsync().ConfigureAwait(false),
                    ["dlq", "list"] => await commands.ListDeadLettersAsync(line.Value("--after"), line.IntValue("--count", 50, 1)).ConfigureAwait(false),
                    ["dlq", "replay", ..] => await commands.ReplayAsync(line.Words[2..], line.All).ConfigureAwait(false),
                    ["dlq", "purge", ..] => await commands.PurgeAsync(line.Words[2..], line.All).ConfigureAwait(false),
                    ["release", var stream] => await commands.ReleaseAsync(stream).ConfigureAwait(false),
                    _ => throw new UsageException("Unreachable: the command was validated."),
                };
            }
            catch (RecoverableStreamsException ex)
            {
                await error.WriteLineAsync("rstreams: " + ex.Message).ConfigureAwait(false);
                return ExitCodes.Redis;
            }
        }
    }

    /// <summary>Checks the command before connecting, so a typo never waits for a connection timeout.</summary>
    private static void Validate(CommandLine line)
    {
        switch (line.Words)
        {
            case ["status"] or ["owners"]:
            case ["dlq", "list"]:
                line.IntValue("--count", 50, 1);
                return;
            case ["dlq", "replay" or "purge", ..] when line.All != (line.Words.Count > 2):
                return;
            case ["dlq", "replay" or "purge", ..]:
                throw new UsageException($"dlq {line.Words[1]} takes dead letter ids or --all (one of the two). Run 'rstreams dlq list' for the ids.");
            case ["dlq", ..]:
                throw new UsageException("dlq takes list, replay or purge.");
            case ["release", _]:
                return;
            case ["release", ..]:
                throw new UsageException("release takes one stream: its data stream name or LBS id.");
            default:
                throw new UsageException($"Unknown command '{string.Join(' ', line.Words)}'. Run 'rstreams --help' for the commands.");
        }
    }

    private static async Task<ConnectionMultiplexer> ConnectAsync(string configuration)
    {
        ConfigurationOptions options;
        try
        {
            options = ConfigurationOptions.Parse(configuration);
        }
        catch (ArgumentException ex)
        {
            throw new UsageException("--redis is not a valid configuration: " + ex.Message);
        }

        // A command line tool reports an unreachable server at once instead of retrying in the background.
        options.AbortOnConnectFail = true;
        options.ClientName ??= "rstreams";
        try
        {
            return await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
        }
        catch (RedisConnectionException ex)
        {
            // Only the end points: the configuration may hold a password.
            var endPoints = string.Join(", ", options.EndPoints.Select(e => e.ToString()));
            throw new CannotConnectException($"cannot connect to Redis at {endPoints} ({ex.FailureType}). Check --redis or {CommandLine.RedisVariable}.", ex);
        }
    }

    private sealed class CannotConnectException(string message, Exception inner) : Exception(message, inner);
}
