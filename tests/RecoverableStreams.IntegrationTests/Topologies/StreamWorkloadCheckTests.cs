using System.Diagnostics;
using RecoverableStreams.IntegrationTests.Infrastructure;

namespace RecoverableStreams.IntegrationTests.Topologies;

/// <summary>
/// The topology tests' exclusivity check (<see cref="StreamWorkload.Overlaps"/>) on fabricated histories: it must
/// report two leases of a stream held at the same moment, and accept a clean hand-over.
/// </summary>
public sealed class StreamWorkloadCheckTests
{
    [Test]
    public void A_hand_over_after_the_old_lease_ended_is_no_overlap()
    {
        var old = new LeaseRun("s", "a", 1, 100);
        old.Ended();
        var next = new LeaseRun("s", "b", 2, Stopwatch.GetTimestamp() + 1);

        Assert.That(StreamWorkload.Overlaps([old, next]), Is.Empty);
    }

    [Test]
    public void A_lease_started_while_an_earlier_one_was_held_is_reported()
    {
        var held = new LeaseRun("s", "a", 1, 100);
        var intruder = new LeaseRun("s", "b", 2, 200);
        var otherStream = new LeaseRun("t", "c", 3, 150);

        var overlaps = StreamWorkload.Overlaps([held, intruder, otherStream]);

        Assert.That(overlaps, Has.Count.EqualTo(1));
        Assert.That(overlaps[0], Does.StartWith("s: token 2 (b) started while token 1 (a) was held"));
    }

    [Test]
    public void A_lease_started_before_an_earlier_one_ended_is_reported()
    {
        var earlier = new LeaseRun("s", "a", 1, 100);
        var later = new LeaseRun("s", "b", 2, 200);
        earlier.Ended();

        Assert.That(StreamWorkload.Overlaps([earlier, later]), Has.Count.EqualTo(1), "the earlier lease ended after the later one started");
    }
}
