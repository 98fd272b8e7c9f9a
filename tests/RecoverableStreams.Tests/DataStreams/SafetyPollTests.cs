using RecoverableStreams.Checkpoints;
using RecoverableStreams.Keys;
using RecoverableStreams.Notifications;

namespace RecoverableStreams.Tests.DataStreams;

public sealed class SafetyPollTests
{
    private static readonly string[] ManyKeys = Enumerable.Range(0, 5000).Select(i => $"orders:{i}").Concat(Enumerable.Range(0, 700).Select(i => $"{{tenant-7}}:s{i}")).ToArray();

    [Test]
    public void On_a_cluster_every_batch_holds_keys_of_one_hash_slot_and_at_most_the_batch_size()
    {
        var batches = SafetyPollBatches.Plan(ManyKeys, k => k, clustered: true, maxPerBatch: 500);

        Assert.Multiple(() =>
        {
            Assert.That(batches.SelectMany(b => b), Is.EquivalentTo(ManyKeys), "every key is probed exactly once");
            Assert.That(batches.All(b => b.Count is > 0 and <= 500), Is.True, "no batch is empty or above 500 keys");
            Assert.That(batches.All(b => b.Select(HashSlot.Of).Distinct().Count() == 1), Is.True, "no batch crosses a hash slot");
            // The 700 keys sharing the {tenant-7} tag go in two batches, not 700.
            Assert.That(batches.Count(b => b[0].StartsWith("{tenant-7}", StringComparison.Ordinal)), Is.EqualTo(2));
        });
    }

    [Test]
    public void On_a_single_server_batches_ignore_slots_and_are_full()
    {
        var batches = SafetyPollBatches.Plan(ManyKeys, k => k, clustered: false, maxPerBatch: 500);

        Assert.Multiple(() =>
        {
            Assert.That(batches.SelectMany(b => b), Is.EqualTo(ManyKeys), "every key once, in order");
            Assert.That(batches, Has.Count.EqualTo((ManyKeys.Length + 499) / 500));
            Assert.That(batches.Take(batches.Count - 1).All(b => b.Count == 500), Is.True);
        });
    }

    [TestCase("0-0", "0-0")]
    [TestCase("1700000000000", "1700000000000-0")]
    [TestCase("0017-0003", "17-3")]
    [TestCase("18446744073709551615-18446744073709551615", "18446744073709551615-18446744073709551615")]
    [TestCase("nonsense", "0-0")]
    [TestCase("-", "0-0")]
    [TestCase("1-2-3", "0-0")]
    public void Positions_are_made_canonical_for_the_script(string position, string canonical)
    {
        Assert.That(StreamIds.Canonical(position), Is.EqualTo(canonical));
    }

    [TestCase("0-0")]
    [TestCase("1700000000000-12")]
    public void A_canonical_position_is_kept_as_is_not_copied(string position)
    {
        var copy = new string(position.AsSpan());
        Assert.That(StreamIds.Canonical(copy), Is.SameAs(copy));
    }

    [TestCase("10-0", "9-99", true)]
    [TestCase("9-10", "9-9", true)]
    [TestCase("9-9", "9-9", false)]
    [TestCase("9-9", "10-0", false)]
    [TestCase("100-0", "99-0", true)]
    public void Ids_compare_as_number_pairs(string id, string position, bool after)
    {
        Assert.That(StreamIds.IsAfter(id, position), Is.EqualTo(after));
    }
}
