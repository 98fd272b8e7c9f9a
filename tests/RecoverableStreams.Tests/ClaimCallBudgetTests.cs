using RecoverableStreams.Recovery;
using RecoverableStreams.Scripts;

namespace RecoverableStreams.Tests;

/// <summary>
/// The claim calls a consumer's failover flights keep in flight at once, across partitions: the renewal shares their
/// connections, so the bound is what keeps a survivor's session alive while it takes over a large share.
/// </summary>
public sealed class ClaimCallBudgetTests
{
    private static readonly TimeSpan RenewInterval = TimeSpan.FromMilliseconds(400);

    [Test]
    public void Slow_renewals_halve_the_streams_per_call_down_to_the_floor_and_fast_ones_double_it_back()
    {
        var budget = new ClaimCallBudget(RenewInterval);
        Assert.That(budget.StreamsPerCall, Is.EqualTo(250), "calls of 250 while nothing was measured");
        Assert.That(ClaimCallBudget.MaxStreamsPerCall, Is.LessThanOrEqualTo(StreamScripts.MaxItemsPerCall), "never more than one script call takes");

        budget.RenewalTook(TimeSpan.FromMilliseconds(401));
        Assert.That(budget.StreamsPerCall, Is.EqualTo(125), "a renewal slower than the interval halves it");
        budget.RenewalTook(TimeSpan.FromMilliseconds(300));
        Assert.That(budget.StreamsPerCall, Is.EqualTo(125), "between half the interval and the interval: unchanged");

        var sizes = new List<int>();
        for (var i = 0; i < 6; i++)
        {
            budget.RenewalTook(TimeSpan.FromSeconds(1));
            sizes.Add(budget.StreamsPerCall);
        }

        Assert.That(sizes, Is.EqualTo(new[] { 62, 50, 50, 50, 50, 50 }), "halved at each slow renewal, never below the floor");

        sizes.Clear();
        for (var i = 0; i < 5; i++)
        {
            budget.RenewalTook(TimeSpan.FromMilliseconds(199));
            sizes.Add(budget.StreamsPerCall);
        }

        Assert.That(sizes, Is.EqualTo(new[] { 100, 200, 250, 250, 250 }), "doubled at each renewal faster than half the interval, never above 250");
    }

    [Test]
    public void At_most_the_budget_is_taken_and_each_returned_slot_can_be_taken_again()
    {
        var budget = new ClaimCallBudget(RenewInterval);
        var taken = 0;
        while (taken < 100 && budget.TryTake())
        {
            taken++;
        }

        Assert.That(taken, Is.EqualTo(ClaimCallBudget.MaxCallsInFlight), "slots taken before the budget refused");
        Assert.That(budget.TryTake(), Is.False, "still refused while every slot is in flight");

        budget.Return();
        Assert.Multiple(() =>
        {
            Assert.That(budget.TryTake(), Is.True, "a returned slot is taken again");
            Assert.That(budget.TryTake(), Is.False, "and only that one");
        });
    }

    [Test]
    public void Concurrent_takers_never_hold_more_than_the_budget()
    {
        var budget = new ClaimCallBudget(RenewInterval);
        var holding = 0;
        var most = 0;
        Parallel.For(0, 20_000, _ =>
        {
            if (!budget.TryTake())
            {
                return;
            }

            var now = Interlocked.Increment(ref holding);
            InterlockedMax(ref most, now);
            Interlocked.Decrement(ref holding);
            budget.Return();
        });

        Assert.That(most, Is.InRange(1, ClaimCallBudget.MaxCallsInFlight));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current && Interlocked.CompareExchange(ref target, value, current) != current)
        {
            current = Volatile.Read(ref target);
        }
    }
}
