using RecoverableStreams.IntegrationTests.Samples;

namespace RecoverableStreams.IntegrationTests.Demo;

/// <summary>
/// Runs the demo end to end as a user would (eng/demo.sh): the built demo starts three worker processes, kills one,
/// stops one, and checks every stream's result against what it sent. The demo and the worker are built with the
/// solution (same configuration as this assembly).
/// </summary>
[TestFixture]
public sealed class DemoTests
{
    private const int Streams = 40;

    [Test]
    public async Task Demo_completes_every_stream_with_correct_sums_through_a_crash_and_a_graceful_stop()
    {
        await using var demo = SampleProcess.Start("RecoverableStreams.Demo",
            ["--streams", Streams.ToString(), "--timeout", "90", "--redis", SharedRedis.Server.ConnectionString]);
        await demo.WaitForExitAsync(TimeSpan.FromSeconds(150));

        var output = demo.Output;
        Assert.Multiple(() =>
        {
            Assert.That(demo.ExitCode, Is.EqualTo(0), output);
            Assert.That(output, Does.Contain("RESULT: PASS"));
            Assert.That(output, Does.Contain($"streams completed:   {Streams}/{Streams} (LBS entries left 0, pending 0, dead letters 0)"));
            Assert.That(output, Does.Contain($"sums verified:       {Streams}/{Streams} correct"));
            Assert.That(output, Does.Match(@"crash failover:\s+demo-worker-\d killed \(SIGKILL\) owning \d+ streams: first claimed after \d+ ms, all re-owned after \d+ ms"));
            Assert.That(output, Does.Match(@"graceful handover:\s+demo-worker-\d stopped \(SIGTERM\) owning \d+ streams: all re-owned after \d+ ms, process exited after \d+ ms with code 0"));
        });

        // Each fault hit a worker that owned some of this run's streams (a kill or stop of an idle worker proves nothing),
        // and no more than the run announced.
        foreach (var fault in new[] { @"crash failover:\s+demo-worker-\d killed \(SIGKILL\) owning (\d+) streams", @"graceful handover:\s+demo-worker-\d stopped \(SIGTERM\) owning (\d+) streams" })
        {
            var owned = int.Parse(System.Text.RegularExpressions.Regex.Match(output, fault).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.That(owned, Is.InRange(1, Streams), $"the faulted worker owned between 1 and {Streams} of the demo's streams: {fault}");
        }
    }

    [Test]
    public async Task Demo_fails_with_a_usage_message_on_an_unknown_option()
    {
        await using var demo = SampleProcess.Start("RecoverableStreams.Demo", ["--no-such-option", "1"]);
        await demo.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.Multiple(() =>
        {
            Assert.That(demo.ExitCode, Is.EqualTo(2));
            Assert.That(demo.Output, Does.Contain("Unknown option --no-such-option"));
            Assert.That(demo.Output, Does.Contain("Usage: RecoverableStreams.Demo"));
        });
    }
}
