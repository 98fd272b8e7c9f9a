using RecoverableStreams.Samples.Snippets;
using RecoverableStreams.Hosting;
using RecoverableStreams.Testing;

namespace RecoverableStreams.Tests.Testing;

/// <summary>
/// A user's unit tests of a handler (the README's OrderHandler) with RecoverableStreams.Testing: no Redis, no host.
/// </summary>
public sealed class OrderHandlerTests
{
    [Test]
    public async Task The_readme_snippet_holds() => Assert.That(await HandlerTest.OrderHandlerSumsAndCheckpointsAsync(), Is.True);

    [Test]
    public async Task Sums_the_amounts_checkpoints_each_entry_and_completes_at_the_end_marker()
    {
        using var work = new FakeStreamWork("order:1") { FencingToken = 9 };
        var first = work.AddEntry(("amount", 5));
        var second = work.AddEntry(("amount", 7));
        work.AddEntry(("end", 1));
        var totals = new OrderTotals();

        var outcome = await work.RunAsync(new OrderHandler(totals));

        Assert.That(outcome, Is.EqualTo(StreamRunOutcome.Completed));
        Assert.That(totals.Of("order:1"), Is.EqualTo(12));
        Assert.That(work.Checkpoints.Select(c => (c.Position, c.FencingToken)), Is.EqualTo(new[] { (first, 9L), (second, 9L) }));
    }

    [Test]
    public async Task A_new_owner_resumes_after_the_previous_owners_checkpoint()
    {
        using var work = new FakeStreamWork("order:2") { Origin = LeaseOrigin.Claimed };
        var first = work.AddEntry(("amount", 5));
        work.AddEntry(("amount", 7));
        work.AddEntry(("end", 1));
        work.WithCheckpoint(first);
        var totals = new OrderTotals();

        Assert.That(await work.RunAsync(new OrderHandler(totals)), Is.EqualTo(StreamRunOutcome.Completed));
        Assert.That(totals.Of("order:2"), Is.EqualTo(7), "the entry before the checkpoint is not counted twice");
    }

    [Test]
    public async Task Losing_ownership_mid_stream_stops_the_handler_and_nothing_is_completed()
    {
        using var work = new FakeStreamWork("order:3");
        work.AddEntry(("amount", 5));
        work.AddEntry(("amount", 7));
        work.AddEntry(("end", 1));
        work.LoseOwnershipAfterCheckpoints(1);
        var totals = new OrderTotals();

        var outcome = await work.RunAsync(new OrderHandler(totals));

        Assert.That(outcome, Is.EqualTo(StreamRunOutcome.OwnershipLost));
        Assert.That(work.Checkpoints, Has.Count.EqualTo(1));
        Assert.That(totals.Of("order:3"), Is.EqualTo(5), "the handler stopped at the loss");
    }

    [Test]
    public async Task A_handler_waiting_at_the_end_reads_entries_added_later()
    {
        using var work = new FakeStreamWork("order:4");
        work.AddEntry(("amount", 1));
        var totals = new OrderTotals();

        var run = work.RunAsync(new OrderHandler(totals));
        await WaitUntil(() => work.Checkpoints.Count == 1);
        Assert.That(run.IsCompleted, Is.False, () => "the handler waits for the end marker; " + (run.IsCompleted ? run.Result + " " + work.Exception : ""));
        work.AddEntry(("amount", 2));
        work.AddEntry(("end", 1));

        Assert.That(await run, Is.EqualTo(StreamRunOutcome.Completed));
        Assert.That(totals.Of("order:4"), Is.EqualTo(3));
    }

    [Test]
    public async Task A_throwing_handler_fails_and_is_dead_lettered_on_the_last_attempt()
    {
        using var work = new FakeStreamWork("order:5") { Attempt = 2, MaxDeliveryAttempts = 3 };
        work.AddEntry(("amount", "not a number"));
        Assert.That(await work.RunAsync(new OrderHandler(new OrderTotals())), Is.EqualTo(StreamRunOutcome.RetryScheduled));
        Assert.That(work.Exception, Is.InstanceOf<InvalidCastException>());

        work.Attempt = 3;
        Assert.That(await work.RunAsync(new OrderHandler(new OrderTotals())), Is.EqualTo(StreamRunOutcome.DeadLettered));
    }

    [Test]
    public async Task Info_identity_and_ownership_reach_the_handler_and_no_member_throws_under_test()
    {
        using var work = new FakeStreamWork("order:6", "1700000000123-4") { Attempt = 2, ConsumerId = "pod-a", FencingToken = 42 };
        work.WithInfo(new Dictionary<string, object?> { ["customer"] = "c-7" });
        var context = work.CreateContext();

        Assert.That(context.AdditionalInfo!["customer"].GetString(), Is.EqualTo("c-7"));
        Assert.That((context.DataStreamName, context.IdInLbs, context.Attempt, context.ConsumerId, context.FencingToken), Is.EqualTo(("order:6", "1700000000123-4", 2, "pod-a", 42L)));
        Assert.That((context.IsOwned, context.OwnershipLost.IsCancellationRequested), Is.EqualTo((true, false)));
        await context.CheckpointAsync("1-0");
        Assert.That((await context.GetCheckpointAsync())!.Position, Is.EqualTo("1-0"));
        work.LoseOwnership();
        Assert.That((context.IsOwned, context.OwnershipLost.IsCancellationRequested), Is.EqualTo((false, true)), "the fake's context follows its ownership, as the worker's follows the lease");
        Assert.ThrowsAsync<StreamOwnershipLostException>(() => context.CheckpointAsync("2-0"));
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            await Task.Delay(10, deadline.Token);
        }
    }
}
