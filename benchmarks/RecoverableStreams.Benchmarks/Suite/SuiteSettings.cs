using System.Globalization;
using RecoverableStreams.Benchmarks.Infrastructure;

namespace RecoverableStreams.Benchmarks.Suite;

/// <summary>
/// What the suite runs: sizes, windows and repetitions. Command-line flags win over environment variables
/// (<c>BENCH_MAX_STREAMS</c>, <c>BENCH_WINDOW_SECONDS</c>, <c>BENCH_SOAK_SECONDS</c>, <c>BENCH_PICKUPS</c>,
/// <c>BENCH_QUICK</c>), which win over the defaults.
/// </summary>
internal sealed record SuiteSettings(
    IReadOnlyList<int> Sizes,
    TimeSpan Window,
    TimeSpan Soak,
    int Pickups,
    bool Quick,
    string Command,
    string? Only)
{
    /// <summary>The idle rows' lease: the library's default.</summary>
    public static readonly TimeSpan IdleLease = TimeSpan.FromSeconds(10);

    /// <summary>Crash, handover, backlog and spread rows: short enough to keep the run short, long enough not to thrash.</summary>
    public static readonly TimeSpan FailoverLease = TimeSpan.FromSeconds(5);

    /// <summary>The soak's lease (the target: 0 lost at 100k with 2 s leases).</summary>
    public static readonly TimeSpan SoakLease = TimeSpan.FromSeconds(2);

    public const int Survivors = 3;

    public int MaxSize => Sizes.Max();

    /// <summary>How long acquiring <paramref name="streams"/> may take before the row reports a timeout.</summary>
    public static TimeSpan AcquireTimeout(int streams) => AcquireOverride ?? TimeSpan.FromSeconds(60 + (streams / 1000.0));

    /// <summary><c>--acquire-seconds</c>: one deadline for every setup (a shorter run on a slow machine, or a test of the timeouts).</summary>
    private static TimeSpan? AcquireOverride { get; set; }

    public static SuiteSettings From(BenchArguments args)
    {
        var quick = args.Has("quick") || Environment.GetEnvironmentVariable("BENCH_QUICK") is "1" or "true";
        var max = args.Int("max-streams", Env("BENCH_MAX_STREAMS") ?? (quick ? 1000 : 100_000));
        var sizes = args.Ints("sizes", 1000, 10_000, 100_000).Where(n => n <= max).ToList();
        if (sizes.Count == 0)
        {
            sizes.Add(max);
        }

        AcquireOverride = args.Get("acquire-seconds") is { } seconds ? TimeSpan.FromSeconds(double.Parse(seconds, CultureInfo.InvariantCulture)) : null;
        return new SuiteSettings(
            sizes,
            TimeSpan.FromSeconds(args.Double("window-seconds", Env("BENCH_WINDOW_SECONDS") ?? (quick ? 5 : 15))),
            TimeSpan.FromSeconds(args.Double("soak-seconds", Env("BENCH_SOAK_SECONDS") ?? (quick ? 10 : 60))),
            args.Int("pickups", Env("BENCH_PICKUPS") ?? (quick ? 20 : 100)),
            quick,
            "suite " + string.Join(' ', args.Rest),
            args.Get("only"));
    }

    private static int? Env(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } text ? int.Parse(text, CultureInfo.InvariantCulture) : null;
}
