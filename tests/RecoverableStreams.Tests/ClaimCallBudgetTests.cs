using RecoverableStreams.Recovery;

namespace RecoverableStreams.Tests;

/// <summary>
/// The claim calls a consumer's failover flights keep in flight at once, across partitions: the renewal shares their
/// connections, so the bound is what keeps a survivor's session alive while it takes over a large share.
/// </summary>
public sealed class ClaimCallBudgetTests
{
    [Test]
    public void At_most_the_budget_is_taken_and_each_returned_slot_can_be_taken_again()
    {
        var budget = new ClaimCallBudget();
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
        var budget = new ClaimCallBudget();
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
