using System.Globalization;

namespace RecoverableStreams.Cli;

/// <summary>A command line that could not be understood; its message says what to type instead.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>
/// The parsed command line: the command words (<c>dlq replay</c>), their operands, and the connection options.
/// Hand-rolled: six commands and a handful of options do not need a framework, and errors stay in our own words.
/// </summary>
internal sealed class CommandLine
{
    public const string RedisVariable = "RSTREAMS_REDIS";
    public const string ServiceVariable = "RSTREAMS_SERVICE";

    private static readonly HashSet<string> ValueOptions = new(StringComparer.Ordinal)
    {
        "--redis", "--service", "--database", "--lbs-key", "--group", "--count", "--after",
    };

    private static readonly HashSet<string> Flags = new(StringComparer.Ordinal) { "--all", "--help", "-h" };

    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _flags = new(StringComparer.Ordinal);

    public List<string> Words { get; } = [];

    public bool Help => _flags.Contains("--help") || _flags.Contains("-h") || Words.Count == 0;

    public bool All => _flags.Contains("--all");

    public static CommandLine Parse(IReadOnlyList<string> args)
    {
        var line = new CommandLine();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            var name = arg.StartsWith("--", StringComparison.Ordinal) && eq > 0 ? arg[..eq] : arg;
            if (ValueOptions.Contains(name))
            {
                string value;
                if (eq > 0 && name.Length < arg.Length)
                {
                    value = arg[(eq + 1)..];
                }
                else if (i + 1 < args.Count)
                {
                    value = args[++i];
                }
                else
                {
                    throw new UsageException($"{name} needs a value.");
                }

                line._values[name] = value;
            }
            else if (Flags.Contains(arg))
            {
                line._flags.Add(arg);
            }
            else if (arg.StartsWith('-') && arg.Length > 1)
            {
                throw new UsageException($"Unknown option '{arg}'. Run 'rstreams --help' for the options.");
            }
            else
            {
                line.Words.Add(arg);
            }
        }

        return line;
    }

    public string? Value(string name) => _values.GetValueOrDefault(name);

    public int IntValue(string name, int fallback, int min)
    {
        if (Value(name) is not { } text)
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min)
        {
            throw new UsageException($"{name} must be a whole number of at least {min}; got '{text}'.");
        }

        return value;
    }

    /// <summary>The options naming the service, from the options and, where missing, the environment.</summary>
    public RecoverableStreamOptions ServiceOptions(Func<string, string?> environment)
    {
        var service = Value("--service") ?? environment(ServiceVariable);
        if (string.IsNullOrWhiteSpace(service))
        {
            throw new UsageException($"Which service? Pass --service <name> or set {ServiceVariable}.");
        }

        var options = new RecoverableStreamOptions
        {
            ServiceName = service,
            Database = IntValue("--database", -1, -1),
            LbsStreamKey = Value("--lbs-key"),
            ConsumerGroup = Value("--group"),
        };
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new UsageException(string.Join(" ", errors));
        }

        return options;
    }

    public string RedisConfiguration(Func<string, string?> environment)
    {
        var configuration = Value("--redis") ?? environment(RedisVariable);
        if (string.IsNullOrWhiteSpace(configuration))
        {
            throw new UsageException($"Where is Redis? Pass --redis <host:port,...> or set {RedisVariable}.");
        }

        return configuration;
    }
}
