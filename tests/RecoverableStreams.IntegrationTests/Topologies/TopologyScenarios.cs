using System.Diagnostics;
using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Topologies;

/// <summary>
/// The scenarios every topology runs, written once: the same consumers and checks as on a single server, with the
/// connection a user of that topology would open.
/// </summary>
internal static class TopologyScenarios
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(60);

    /// <summary>Streams are granted to three consumers, checkpointed, summed and completed once each.</summary>
    public static async Task<StreamWorkload> AssignCheckpointCompleteAsync(IConnectionMultiplexer redis)
    {
        var workload = new StreamWorkload(TestOptions.NewServiceName());
        await using var a = await workload.StartConsumerAsync(redis, "a");
        await using var b = await workload.StartConsumerAsync(redis, "b");
        await using var c = await workload.StartConsumerAsync(redis, "c");
        await workload.PublishAsync(redis, 0, 30);

        await workload.AssertEveryStreamCompletedOnceAsync(redis, Settle);
        Assert.That(workload.Checkpoints, Is.GreaterThan(0), "handlers checkpointed");
        await TestContext.Out.WriteLineAsync(workload.Describe());
        return workload;
    }

    /// <summary>
    /// A consumer crashes (CrashAsync: nothing released) while it owns streams that have checkpoints; the survivor
    /// claims them once their leases expire, resumes from their checkpoints and completes each once.
    /// </summary>
    public static async Task CrashFailsOverWithCheckpointsAsync(IConnectionMultiplexer redis)
    {
        // 50 ms per entry: a stream takes about a second, so the crash hits streams mid-way.
        var workload = new StreamWorkload(TestOptions.NewServiceName(), entryDelay: TimeSpan.FromMilliseconds(50));
        await using var doomed = await workload.StartConsumerAsync(redis, "doomed");
        await workload.PublishAsync(redis, 0, 6);
        await Eventually.AssertAsync(() => doomed.Owned.Count >= 3 && workload.Checkpoints >= 3, TimeSpan.FromSeconds(30), "the doomed consumer owns streams and has checkpointed");
        await using var survivor = await workload.StartConsumerAsync(redis, "survivor");
        var doomedOwned = doomed.Owned.Select(l => l.DataStreamName).ToList();
        await doomed.CrashAsync();

        await workload.AssertEveryStreamCompletedOnceAsync(redis, Settle);
        var takenOver = survivor.Of(StreamNotificationType.StreamAdded).Where(n => n.Lease!.Origin == LeaseOrigin.Claimed).Select(n => n.Payload.DataStreamName).ToList();
        Assert.That(takenOver, Is.Not.Empty, "the survivor took over the crashed consumer's streams");
        Assert.That(takenOver, Is.SubsetOf(doomedOwned));
        Assert.That(workload.Resumed, Is.GreaterThan(0), "a taken-over stream resumed from its checkpoint");
        await TestContext.Out.WriteLineAsync($"{workload.Describe()}; taken over: {takenOver.Count}");
    }

    /// <summary>
    /// Streams flow through three consumers while a producer announces more; <paramref name="fault"/> runs once a third
    /// is announced and streams are in flight. Afterwards every stream is completed once, sums exact, no dead letter.
    /// <paramref name="losesWrites"/>: the fault may lose acknowledged writes (a killed primary, a failover); it is
    /// reported, and no exception is made for it (see <see cref="StreamWorkload.AssertEveryStreamCompletedOnceAsync"/>).
    /// </summary>
    public static async Task<StreamWorkload> FlowThroughFaultAsync(IConnectionMultiplexer redis, bool losesWrites, Func<StreamWorkload, Task> fault, int streams = 45, int partitions = 1)
    {
        var workload = new StreamWorkload(TestOptions.NewServiceName(), entryDelay: TimeSpan.FromMilliseconds(10), partitions: partitions);
        await using var a = await workload.StartConsumerAsync(redis, "a");
        await using var b = await workload.StartConsumerAsync(redis, "b");
        await using var c = await workload.StartConsumerAsync(redis, "c");
        var publishing = workload.PublishAsync(redis, 0, streams, pause: TimeSpan.FromMilliseconds(20));
        await Eventually.AssertAsync(() => workload.Published.Count >= streams / 3 && a.Owned.Count + b.Owned.Count + c.Owned.Count > 0, Settle, "a third of the streams is announced and some are owned");

        var clock = Stopwatch.StartNew();
        await fault(workload);
        var faultEnded = DateTimeOffset.UtcNow;
        await TestContext.Out.WriteLineAsync($"Fault done in {clock.ElapsedMilliseconds} ms");
        await publishing;

        await TestContext.Out.WriteLineAsync($"Fault ended {faultEnded:HH:mm:ss.fff}{(losesWrites ? " (it may lose acknowledged writes)" : "")}");
        await workload.AssertEveryStreamCompletedOnceAsync(redis, Settle);
        await TestContext.Out.WriteLineAsync($"{workload.Describe()}; settled {clock.ElapsedMilliseconds} ms after the fault began");
        foreach (var error in workload.HandlerErrors.Select(e => e[(e.IndexOf(": ", StringComparison.Ordinal) + 2)..]).GroupBy(e => e).OrderByDescending(g => g.Count()).Take(8))
        {
            await TestContext.Out.WriteLineAsync($"  handlers retried {error.Count()} x {error.Key}");
        }

        foreach (var problem in workload.LoggedProblems(12))
        {
            await TestContext.Out.WriteLineAsync("  logged " + problem);
        }

        return workload;
    }
}
