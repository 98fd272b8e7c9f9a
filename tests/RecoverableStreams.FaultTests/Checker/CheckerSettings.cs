using System.Globalization;

namespace RecoverableStreams.FaultTests.Checker;

/// <summary>
/// One randomized run: the seed drives every choice (which fault, which worker, how long, when to announce; each
/// consumer's per-grant choices derive from it too). The schedule of the OS is not seeded: like Jepsen, a seed
/// reproduces the plan, and a violation it exposed usually (not always) comes back with it.
/// </summary>
internal sealed record CheckerSettings(int Seed, TimeSpan Duration)
{
    /// <summary>Lease duration of the consumers: short, so that faults longer than it take streams away.</summary>
    public TimeSpan Lease { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>One redis-server, or a Sentinel group whose failovers are among the faults.</summary>
    public CheckerTopology Topology { get; init; } = CheckerTopology.SingleRedis;

    public int InitialWorkers { get; init; } = 3;

    public int MaxWorkers { get; init; } = 5;

    /// <summary>The deliberately broken consumer of the self-test (CHECKER_BROKEN=ignore-ownership in the worker).</summary>
    public bool BrokenConsumer { get; init; }

    /// <summary>How long after the faults stop every announced stream must have ended.</summary>
    public TimeSpan QuietPeriod { get; init; } = TimeSpan.FromSeconds(45);

    /// <summary>CHECKER_SEEDS (comma-separated) or the CI seeds.</summary>
    public static IEnumerable<int> Seeds(params int[] ciSeeds) =>
        Environment.GetEnvironmentVariable("CHECKER_SEEDS") is { Length: > 0 } seeds
            ? seeds.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture))
            : ciSeeds;

    /// <summary>CHECKER_DURATION (seconds of faults per seed) or the CI duration.</summary>
    public static TimeSpan DurationOr(TimeSpan ci) =>
        Environment.GetEnvironmentVariable("CHECKER_DURATION") is { Length: > 0 } seconds
            ? TimeSpan.FromSeconds(double.Parse(seconds, CultureInfo.InvariantCulture))
            : ci;
}
