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

    private static IEnumerable<int> Seeds() => CheckerSettings.Seeds(1, 2);

    [TestCaseSource(nameof(Seeds))]
    public async Task Random_operations_and_faults_break_no_rule(int seed)
    {
        var result = await CheckerRun.RunAsync(new CheckerSettings(seed, CheckerSettings.DurationOr(CiDuration)));
        TestContext.Out.WriteLine(result.Summary());
        Assert.That(result.Violations, Is.Empty, () => result.Report(nameof(RandomizedCheckerTests) + "." + nameof(Random_operations_and_faults_break_no_rule)));
        // The run did what it claims: streams were granted and ended, and faults took streams away.
        Assert.That(result.Grants, Is.GreaterThan(result.Count(HistoryOp.Complete, HistoryPhase.Ok) / 2), result.Summary());
        Assert.That(result.Faults.Values.Sum(), Is.GreaterThan(3), result.Summary());
        Assert.That(result.Drained, Is.True, () => "streams still owned or in the LBS after the quiet period: " + result.Report(nameof(Random_operations_and_faults_break_no_rule)));
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
}
