using RecoverableStreams.Keys;

namespace RecoverableStreams.Tests;

public sealed class KeyTests
{
    [TestCase("svc-input")]
    [TestCase("{orders}-input")]
    [TestCase("a:b:c")]
    public void Every_control_key_shares_the_lbs_key_hash_slot(string lbs)
    {
        var keys = new StreamKeys(lbs, "g");
        var slot = HashSlot.Of(lbs);
        foreach (var key in new[] { keys.Deadlines, keys.Fence, keys.Consumers, keys.Attempts, keys.Dead, keys.Events, keys.ReconcileGuard, keys.Lease("1-0"), keys.Checkpoint("1-0") })
        {
            Assert.That(HashSlot.Of(key), Is.EqualTo(slot), key);
        }
    }

    [Test]
    public void Hash_slot_matches_redis_cluster_reference_values()
    {
        // Values from the Redis Cluster specification (CLUSTER KEYSLOT).
        Assert.That(HashSlot.Of("foo"), Is.EqualTo(12182));
        Assert.That(HashSlot.Of("123456789"), Is.EqualTo(12739));
        Assert.That(HashSlot.Of("{user1000}.following"), Is.EqualTo(HashSlot.Of("user1000")));
    }
}
