using System.CommandLine;
using System.Globalization;
using RecoverableStreams.Administration;
using StackExchange.Redis;

namespace RecoverableStreams.Cli;

/// <summary>
/// The <c>rstreams</c> tool: the command line (System.CommandLine), the connection, one command of the operator API,
/// and its exit code (<see cref="ExitCodes"/>).
/// </summary>
internal static class CliApp
{
    public const string ServiceVariable = "RSTREAMS_SERVICE";
    public const string PartitionsVariable = "RSTREAMS_PARTITIONS";

    private static readonly Option<string?> RedisOption = new("--redis") { Description = $"StackExchange.Redis configuration without password, e.g. redis.internal:6380 (env {ConnectionSettings.RedisVariable})", Recursive = true };
    private static readonly Option<string?> UserOption = new("--user") { Description = "The ACL user (or user= in the configuration)", Recursive = true };
    private static readonly Option<string?> PasswordFileOption = new("--password-file") { Description = $"Read the password from this file (else env {ConnectionSettings.PasswordVariable}, else --ask-password)", Recursive = true };
    private static readonly Option<bool> AskPasswordOption = new("--ask-password") { Description = "Prompt for the password (no echo)", Recursive = true };
    private static readonly Option<bool> TlsOption = new("--tls") { Description = "Connect with TLS (trusting the machine's CAs)", Recursive = true };
    private static readonly Option<string?> TlsCaOption = new("--tls-ca") { Description = "Connect with TLS and trust this CA certificate (PEM), for a private CA", Recursive = true };
    private static readonly Option<string?> ServiceOption = new("--service") { Description = $"The service name the consumers use (env {ServiceVariable})", Recursive = true };
    private static readonly Option<int?> PartitionsOption = new("--partitions") { Description = $"The consumers' Partitions (env {PartitionsVariable}; default 1)", Recursive = true };
    private static readonly Option<int?> DatabaseOption = new("--database") { Description = "The Redis database (default: the configuration's)", Recursive = true };
    private static readonly Option<string?> LbsKeyOption = new("--lbs-key") { Description = "LbsStreamKey override, when the consumers set one", Recursive = true };
    private static readonly Option<string?> GroupOption = new("--group") { Description = "ConsumerGroup override, when the consumers set one", Recursive = true };
    private static readonly Option<TimeSpan?> LeaseOption = new("--lease-duration") { Description = "The consumers' LeaseDuration (e.g. 00:00:10): dates the last heartbeat; without it only the deadline is shown", Recursive = true };
    private static readonly Option<OutputFormat> OutputOption = new("--output", "-o") { Description = "table or json", Recursive = true, DefaultValueFactory = _ => OutputFormat.Table };

    public static Task<int> RunAsync(string[] args, CliConsole console)
    {
        var root = BuildCommands(console);
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
            {
                console.Error.WriteLine("rstreams: " + error.Message);
            }

            console.Error.WriteLine("Run 'rstreams --help' for the commands and options.");
            return Task.FromResult(ExitCodes.Usage);
        }

        var writer = console.Output.Profile.Out.Writer;
        return parsed.InvokeAsync(new InvocationConfiguration { Output = writer, Error = console.Error });
    }

    private static RootCommand BuildCommands(CliConsole console)
    {
        var root = new RootCommand("rstreams: operate a RecoverableStreams service (status, owners, dead letters, force-release).");
        foreach (var option in new Option[] { RedisOption, UserOption, PasswordFileOption, AskPasswordOption, TlsOption, TlsCaOption, ServiceOption, PartitionsOption, DatabaseOption, LbsKeyOption, GroupOption, LeaseOption, OutputOption })
        {
            root.Options.Add(option);
        }

        var status = new Command("status", "LBS length, lag, pending, dead letters, and each consumer's session");
        Handle(status, console, (c, _) => c.StatusAsync());

        var ownersCount = new Option<int>("--count") { Description = "The most owners to read (default 100)", DefaultValueFactory = _ => 100 };
        ownersCount.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 1) { r.AddError("--count must be at least 1."); } });
        var owners = new Command("owners", "owned streams (at most --count): consumer, session, fencing token, deadline") { ownersCount };
        Handle(owners, console, (c, p) => c.OwnersAsync(p.GetValue(ownersCount)));

        var listCount = new Option<int>("--count") { Description = "The page size (default 50)", DefaultValueFactory = _ => 50 };
        listCount.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 1) { r.AddError("--count must be at least 1."); } });
        var after = new Option<string?>("--after") { Description = "The cursor the previous page printed" };
        var list = new Command("list", "dead letters, oldest first, one page") { listCount, after };
        Handle(list, console, (c, p) => c.ListDeadLettersAsync(p.GetValue(after), p.GetValue(listCount)));

        var replay = IdsCommand("replay", "announce dead letters again (new LBS entries), then remove them", out var replayIds, out var replayAll, out var replayYes);
        Handle(replay, console, (c, p) => c.ReplayAsync(p.GetValue(replayIds) ?? [], p.GetValue(replayAll), p.GetValue(replayYes)));
        var purge = IdsCommand("purge", "delete dead letters for good (asks first, or --yes)", out var purgeIds, out var purgeAll, out var purgeYes);
        Handle(purge, console, (c, p) => c.PurgeAsync(p.GetValue(purgeIds) ?? [], p.GetValue(purgeAll), p.GetValue(purgeYes)));
        var dlq = new Command("dlq", "dead letters: list, replay, purge") { list, replay, purge };

        var stream = new Argument<string>("stream") { Description = "The data stream name or its LBS id" };
        var releaseYes = YesOption();
        var release = new Command("release", "force-release a stream: peers take it over, the old owner's writes are refused (asks first, or --yes)") { stream, releaseYes };
        Handle(release, console, (c, p) => c.ReleaseAsync(p.GetValue(stream)!, p.GetValue(releaseYes)));

        root.Subcommands.Add(status);
        root.Subcommands.Add(owners);
        root.Subcommands.Add(dlq);
        root.Subcommands.Add(release);
        return root;
    }

    private static Option<bool> YesOption() => new("--yes", "-y") { Description = "Do it without asking" };

    private static Command IdsCommand(string name, string description, out Argument<string[]> ids, out Option<bool> all, out Option<bool> yes)
    {
        ids = new Argument<string[]>("id") { Description = "Dead letter ids (rstreams dlq list prints them)", Arity = ArgumentArity.ZeroOrMore };
        all = new Option<bool>("--all") { Description = "Every dead letter of the service" };
        yes = YesOption();
        var command = new Command(name, description) { ids, all, yes };
        var (idsArgument, allOption) = (ids, all);
        command.Validators.Add(r =>
        {
            var count = r.GetValue(idsArgument)?.Length ?? 0;
            if (r.GetValue(allOption) == (count > 0))
            {
                r.AddError($"dlq {name} takes dead letter ids or --all (one of the two). Run 'rstreams dlq list' for the ids.");
            }
        });
        return command;
    }

    private static void Handle(Command command, CliConsole console, Func<Commands, ParseResult, Task<int>> run) =>
        command.SetAction((parse, cancellationToken) => RunCommandAsync(parse, console, run));

    private static async Task<int> RunCommandAsync(ParseResult parse, CliConsole console, Func<Commands, ParseResult, Task<int>> run)
    {
        var settings = new GlobalSettings(
            parse.GetValue(RedisOption), parse.GetValue(UserOption), parse.GetValue(PasswordFileOption), parse.GetValue(AskPasswordOption),
            parse.GetValue(TlsOption), parse.GetValue(TlsCaOption), parse.GetValue(ServiceOption), parse.GetValue(PartitionsOption),
            parse.GetValue(DatabaseOption), parse.GetValue(LbsKeyOption), parse.GetValue(GroupOption), parse.GetValue(LeaseOption),
            parse.GetValue(OutputOption));

        ConnectionMultiplexer redis;
        RecoverableStreamsAdmin admin;
        try
        {
            var options = ServiceOptions(settings, console);
            var configuration = ConnectionSettings.Build(settings, console);
            redis = await ConnectionSettings.ConnectAsync(configuration).ConfigureAwait(false);
            admin = new RecoverableStreamsAdmin(redis, options);
        }
        catch (UsageException ex)
        {
            await console.Error.WriteLineAsync("rstreams: " + ex.Message).ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (CannotConnectException ex)
        {
            await console.Error.WriteLineAsync("rstreams: " + ex.Message).ConfigureAwait(false);
            return ExitCodes.Connection;
        }

        await using (redis.ConfigureAwait(false))
        {
            try
            {
                return await run(new Commands(admin, settings, console), parse).ConfigureAwait(false);
            }
            catch (RecoverableStreamsException ex) when (IsRefused(ex))
            {
                await console.Error.WriteLineAsync("rstreams: Redis refused the command (" + TerminalText.Escape(ex.InnerException?.Message) + "). The ACL user needs the operator role's permissions (docs/SECURITY.md).").ConfigureAwait(false);
                return ExitCodes.Refused;
            }
            catch (RecoverableStreamsException ex)
            {
                await console.Error.WriteLineAsync("rstreams: " + TerminalText.Escape(ex.Message)).ConfigureAwait(false);
                return ExitCodes.RedisError;
            }
        }
    }

    /// <summary>
    /// An ACL refusal (NOPERM): the user lacks a command, key or channel permission; inside a transaction Redis reports
    /// it as <c>EXECABORT ... NOPERM ...</c>.
    /// </summary>
    private static bool IsRefused(RecoverableStreamsException ex) =>
        ex.InnerException is RedisServerException server
        && (server.Message.StartsWith("NOPERM", StringComparison.Ordinal) || (server.Message.StartsWith("EXECABORT", StringComparison.Ordinal) && server.Message.Contains("NOPERM", StringComparison.Ordinal)));

    /// <summary>The options naming the service, from the options and, where missing, the environment.</summary>
    private static RecoverableStreamOptions ServiceOptions(GlobalSettings settings, CliConsole console)
    {
        var service = settings.Service ?? console.Environment(ServiceVariable);
        if (string.IsNullOrWhiteSpace(service))
        {
            throw new UsageException($"Which service? Pass --service <name> or set {ServiceVariable}.");
        }

        var partitions = settings.Partitions;
        if (partitions is null && console.Environment(PartitionsVariable) is { Length: > 0 } text)
        {
            partitions = int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) ? parsed : throw new UsageException($"{PartitionsVariable} must be a whole number; got '{text}'.");
        }

        var options = new RecoverableStreamOptions
        {
            ServiceName = service,
            Partitions = partitions ?? 1,
            Database = settings.Database ?? -1,
            LbsStreamKey = settings.LbsKey,
            ConsumerGroup = settings.Group,
        };
        if (settings.LeaseDuration is { } lease)
        {
            options.LeaseDuration = lease;
        }

        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new UsageException(string.Join(" ", errors));
        }

        return options;
    }
}
