using FsCheck;
using FsCheck.Fluent;
using RecoverableStreams.Rebalancing;

namespace RecoverableStreams.Tests;

/// <summary>
/// The rebalancer's arithmetic: capacity-aware targets, how much an over-share consumer hands over, and how much a
/// consumer may claim. The property runs whole rebalancing rounds and checks that they converge to max/min ≤ 1.2
/// without an over-share consumer ever claiming.
/// </summary>
public sealed class FairShareTests
{
    [Test]
    public void Equal_capacities_share_evenly_with_targets_one_apart_at_most()
    {
        var live = Loads((30, 100), (30, 100), (30, 100), (0, 100));

        Assert.That(FairShare.Targets(live, 90), Is.EqualTo(new[] { 23, 23, 23, 23 }));
        Assert.That(FairShare.HandOverCount(live, 90, "s0", maxPerRound: 100), Is.EqualTo(7));
        Assert.That(FairShare.ClaimLimit(live, 90, "s3", freeSlots: 100), Is.EqualTo(23));
        Assert.That(FairShare.ClaimLimit(live, 90, "s0", freeSlots: 70), Is.Zero, "an over-share consumer claims nothing");
    }

    [Test]
    public void A_small_consumer_is_filled_to_its_capacity_and_the_rest_share_the_remainder()
    {
        var live = Loads((60, 100), (10, 10), (0, 100));

        Assert.That(FairShare.Targets(live, 70), Is.EqualTo(new[] { 30, 10, 30 }));
        Assert.That(FairShare.HandOverCount(live, 70, "s1", maxPerRound: 100), Is.Zero, "a full small consumer is at its target");
        Assert.That(FairShare.HandOverCount(live, 70, "s0", maxPerRound: 100), Is.EqualTo(30));
    }

    [Test]
    public void More_streams_than_capacity_make_every_target_the_capacity()
    {
        var live = Loads((10, 10), (5, 5));

        Assert.That(FairShare.Targets(live, 100), Is.EqualTo(new[] { 10, 5 }));
        Assert.That(FairShare.HandOverCount(live, 100, "s0", maxPerRound: 100), Is.Zero);
    }

    [Test]
    public void Free_streams_count_towards_the_targets_and_the_round_limit_caps_a_hand_over()
    {
        var live = Loads((24, 100), (23, 100), (23, 100), (0, 100));

        // 91 streams: 70 owned and 21 free; targets 23: the first consumer still hands over its one extra stream.
        Assert.That(FairShare.Targets(live, 91), Is.EqualTo(new[] { 23, 23, 23, 23 }));
        Assert.That(FairShare.HandOverCount(live, 91, "s0", maxPerRound: 100), Is.EqualTo(1));
        Assert.That(FairShare.HandOverCount(live, 91, "s1", maxPerRound: 100), Is.Zero);
        Assert.That(FairShare.HandOverCount(Loads((30, 100), (30, 100), (30, 100), (0, 100)), 90, "s0", maxPerRound: 3), Is.EqualTo(3));
    }

    [Test]
    public void A_consumer_not_yet_seen_as_live_claims_by_capacity_alone()
    {
        Assert.That(FairShare.ClaimLimit(Loads((10, 100)), 10, "unknown", freeSlots: 7), Is.EqualTo(7));
        Assert.That(FairShare.HandOverCount(Loads((10, 100)), 10, "unknown", 10), Is.Zero);
    }

    [FsCheck.NUnit.Property(MaxTest = 200)]
    public Property Rounds_of_hand_over_then_claim_converge_to_a_spread_of_at_most_1_2_and_keep_every_stream_owned() =>
        Prop.ForAll(Gen.Choose(2, 8).ToArbitrary(), Gen.Choose(6, 60).ToArbitrary(), Gen.Choose(1, 20).ToArbitrary(), (consumers, perConsumer, maxPerRound) =>
        {
            // Everything starts on the first consumers; the last one joins empty. Equal capacities with room to spare.
            var total = consumers * perConsumer;
            var owned = new int[consumers];
            for (var i = 0; i < total; i++)
            {
                owned[i % (consumers - 1)]++;
            }

            var free = 0;
            for (var round = 0; round < 200; round++)
            {
                var live = Enumerable.Range(0, consumers).Select(i => new SessionLoad("s" + i, owned[i], 2 * perConsumer + 10)).ToArray();
                var handed = Enumerable.Range(0, consumers).Select(i => FairShare.HandOverCount(live, total, "s" + i, maxPerRound)).ToArray();
                for (var i = 0; i < consumers; i++)
                {
                    owned[i] -= handed[i];
                    free += handed[i];
                }

                live = Enumerable.Range(0, consumers).Select(i => new SessionLoad("s" + i, owned[i], 2 * perConsumer + 10)).ToArray();
                for (var i = consumers - 1; i >= 0 && free > 0; i--)
                {
                    var take = Math.Min(free, FairShare.ClaimLimit(live, total, "s" + i, 2 * perConsumer + 10 - owned[i]));
                    if (take > 0 && handed[i] > 0)
                    {
                        return false.Label("a consumer claimed in the round it handed over");
                    }

                    owned[i] += take;
                    free -= take;
                }

                if (free == 0 && (double)owned.Max() / Math.Max(1, owned.Min()) <= 1.2 && owned.Min() > 0)
                {
                    return (owned.Sum() == total).Label("every stream owned");
                }
            }

            return false.Label($"no convergence: {string.Join(",", owned)} free {free}");
        });

    private static SessionLoad[] Loads(params (int Owned, int Capacity)[] loads) =>
        loads.Select((l, i) => new SessionLoad("s" + i, l.Owned, l.Capacity)).ToArray();
}
