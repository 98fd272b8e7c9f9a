using System.Globalization;

namespace RecoverableStreams.Demo;

/// <summary>The demo's command line: <c>--streams N --timeout S --lease S --entries N --redis CONN --worker PATH</c>.</summary>
internal sealed class DemoOptions
{
    public int Streams { get; private set; } = 300;

    /// <summary>Worker processes; the demo kills one and stops another, so at least three.</summary>
    public int Workers { get; private set; } = 3;

    /// <summary>Data entries written to each stream before its <c>end</c> entry, at least (more while handovers run).</summary>
    public int MinEntries { get; private set; } = 20;

    public TimeSpan Lease { get; private set; } = TimeSpan.FromSeconds(3);

    /// <summary>The whole run, Redis and worker start-up included; past it the demo reports and fails.</summary>
    public TimeSpan Timeout { get; private set; } = TimeSpan.FromSeconds(120);

    /// <summary>An existing Redis (<c>--redis</c> or <c>ConnectionStrings__Redis</c>); else the demo starts one.</summary>
    public string? Redis { get; private set; } = Environment.GetEnvironmentVariable("ConnectionStrings__Redis");

    /// <summary>The worker's dll; else found next to the demo's own build output.</summary>
    public string? WorkerPath { get; private set; } = Environment.GetEnvironmentVariable("DEMO_WORKER_DLL");

    public bool Help { get; private set; }

    public const string Usage = """
        Usage: RecoverableStreams.Demo [options]
          --streams N     data streams to announce (default 300)
          --workers N     worker processes, at least 3 (default 3)
          --entries N     data entries per stream, at least (default 20)
          --lease S       lease duration in seconds (default 3)
          --timeout S     overall time limit in seconds (default 120)
          --redis CONN    use this Redis (default: ConnectionStrings__Redis, else redis-server from PATH, else Testcontainers)
          --worker PATH   the built RecoverableStreams.Samples.Worker.dll (default: found next to this build)
        Exit code 0 only when every stream completed with the right sum and count.
        """;

    public static DemoOptions Parse(string[] args)
    {
        var options = new DemoOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            if (name is "-h" or "--help")
            {
                options.Help = true;
                continue;
            }

            if (i + 1 >= args.Length)
            {
                throw new ArgumentException($"{name} needs a value.");
            }

            var value = args[++i];
            switch (name)
            {
                case "--streams": options.Streams = PositiveInt(name, value); break;
                case "--workers": options.Workers = Math.Max(3, PositiveInt(name, value)); break;
                case "--entries": options.MinEntries = PositiveInt(name, value); break;
                case "--lease": options.Lease = TimeSpan.FromSeconds(PositiveDouble(name, value)); break;
                case "--timeout": options.Timeout = TimeSpan.FromSeconds(PositiveDouble(name, value)); break;
                case "--redis": options.Redis = value; break;
                case "--worker": options.WorkerPath = value; break;
                default: throw new ArgumentException($"Unknown option {name}.");
            }
        }

        return options;
    }

    private static int PositiveInt(string name, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new ArgumentException($"{name} needs a positive integer, not '{value}'.");

    private static double PositiveDouble(string name, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new ArgumentException($"{name} needs a positive number, not '{value}'.");
}
