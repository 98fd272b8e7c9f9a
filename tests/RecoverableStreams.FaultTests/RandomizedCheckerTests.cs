using RecoverableStreams.FaultTests.Checker;

namespace RecoverableStreams.FaultTests;

/// <summary>
/// The randomized checker (docs/RELIABILITY.md, "Randomized checker"): consumer processes on the core client under
/// seeded random operations and faults, every grant, write and end in a history, checked afterwards. CI runs the
/// fixed seeds below; CHECKER_SEEDS=1,2,3 and CHECKER_DURATION=seconds run others (the long run).
/// </summary>
[NonParallelizable]
public sealed class RandomizedCheckerTests
{
    private static readonly TimeSpan CiDuration = TimeSpan.FromSeconds(25);

    /// <summary>
    /// A seed whose plan reaches a failover (the primary killed) about 11 s into <see cref="SentinelCiDuration"/>, among
    /// crashes, freezes, joins and leaves: measured 29 s in all on the 2-core machine. A planned failover near the end
    /// would add the ~15 s the group takes to heal before the drain.
    /// </summary>
    private const int SentinelCiSeed = 6;

    /// <summary>Short: the Sentinel group's start (about 6 s) and the healing after the last failover add to it.</summary>
    private static readonly TimeSpan SentinelCiDuration = TimeSpan.FromSeconds(20);

    private static IEnumerable<int> Seeds() => CheckerSettings.Seeds(1, 2);

    private static IEnumerable<int> SentinelSeeds() => CheckerSettings.Seeds(SentinelCiSeed);

    [TestCaseSource(nameof(Seeds))]
    public async Task Random_operations_and_faults_break_no_rule(int seed)
    {
        var result = await CheckerRun.RunAsync(new CheckerSettings(seed, CheckerSettings.DurationOr(CiDuration)));
        AssertNoRuleBroken(result, nameof(Random_operations_and_faults_break_no_rule));
    }

    /// <summary>
    /// The same rules with Sentinel failovers among the faults (planned, or the primary killed and brought back as a
    /// replica): the consumers connect through the sentinels. CI runs one seed for 20 s of faults; CHECKER_SEEDS and
    /// CHECKER_DURATION run others, as above.
    /// </summary>
    [TestCaseSource(nameof(SentinelSeeds))]
    public async Task Random_operations_and_sentinel_failovers_break_no_rule(int seed)
    {
        var result = await CheckerRun.RunAsync(new CheckerSettings(seed, CheckerSettings.DurationOr(SentinelCiDuration)) { Topology = CheckerTopology.Sentinel });
        AssertNoRuleBroken(result, nameof(Random_operations_and_sentinel_failovers_break_no_rule));
    }

    /// <summary>
    /// The deliberately broken consumer (CHECKER_BROKEN=ignore-ownership: its handlers never read IsOwned and go on
    /// after their writes are refused) under freezes and partitions: the checker must find two owners at once.
    /// </summary>
    [Test]
    public async Task The_checker_catches_a_consumer_that_ignores_the_loss_of_ownership()
    {
        var result = await CheckerRun.RunAsync(new CheckerSettings(7, TimeSpan.FromSeconds(15)) { BrokenConsumer = true });
        TestContext.Out.WriteLine(result.Report(nameof(The_checker_catches_a_consumer_that_ignores_the_loss_of_ownership)));
        Assert.That(result.Violations.Select(v => v.Kind), Does.Contain(ViolationKind.OverlappingOwners), result.Summary());
        // The consumer is broken, not the engine: Redis still refuses every write of the stale owners.
        Assert.That(result.Violations.Where(v => v.Kind == ViolationKind.StaleWriteAccepted), Is.Empty, () => result.Report("The_checker_catches"));
        Assert.That(result.Count(HistoryOp.Checkpoint, HistoryPhase.Fail), Is.GreaterThan(0), "the stale owners' writes were refused: " + result.Summary());
    }

    private static void AssertNoRuleBroken(CheckerResult result, string test)
    {
        TestContext.Out.WriteLine(result.Summary());
        var filter = nameof(RandomizedCheckerTests) + "." + test;
        Assert.That(result.Violations, Is.Empty, () => result.Report(filter));
        // The run did what it claims: streams were granted and ended, and faults took streams away.
        Assert.That(result.Grants, Is.GreaterThan(result.Count(HistoryOp.Complete, HistoryPhase.Ok) / 2), result.Summary());
        Assert.That(result.Faults.Values.Sum(), Is.GreaterThan(3), result.Summary());
        if (result.Settings.Topology == CheckerTopology.Sentinel)
        {
            // Read from the nemesis's history: a failover whose ok names another primary than its start did.
            Assert.That(result.PrimaryMoves.Where(m => m.Moved), Is.Not.Empty, () => "no failover moved the primary: " + result.Report(filter));
        }

        Assert.That(result.Drained, Is.True, () => "streams still owned or in the LBS after the quiet period: " + result.Report(filter));
    }
}
