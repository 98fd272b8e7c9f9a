using RecoverableStreams.Keys;

namespace RecoverableStreams.Tests;

public sealed class KeyTests
{
    [TestCase("svc-input")]
    [TestCase("{orders}-input")]
    [TestCase("a:b:c")]
    [TestCase("x{y")]
    [TestCase("päivä-input")]
    public void Every_control_key_shares_the_lbs_key_hash_slot(string lbs)
    {
        var keys = new StreamKeys(lbs, "g");
        var slot = HashSlot.Of(lbs);
        foreach (var key in new[] { keys.Sessions, keys.Owners, keys.Owned, keys.Counts, keys.Free, keys.Names, keys.Fence, keys.Attempts, keys.Dead, keys.Events, keys.ReconcileGuard, keys.Checkpoint("1-0") })
        {
            Assert.That(HashSlot.Of(key), Is.EqualTo(slot), key);
        }
    }

    [Test]
    public void Hash_slot_matches_redis_cluster_reference_values()
    {
        // Values from the Redis Cluster specification and CLUSTER KEYSLOT.
        Assert.That(HashSlot.Of("foo"), Is.EqualTo(12182));
        Assert.That(HashSlot.Of("123456789"), Is.EqualTo(12739));
        Assert.That(HashSlot.Of("somekey"), Is.EqualTo(11058));
        Assert.That(HashSlot.Of("foo{hash_tag}"), Is.EqualTo(2515));
        Assert.That(HashSlot.Of("bar{hash_tag}"), Is.EqualTo(2515));
        Assert.That(HashSlot.Of("{user1000}.following"), Is.EqualTo(HashSlot.Of("user1000")));
    }

    [Test]
    public void Hash_tags_follow_the_cluster_rules()
    {
        // Only the first '{' and the first '}' after it count; an empty tag means the whole key is hashed.
        // Expected values from CLUSTER KEYSLOT on redis-server 7.0 with cluster-enabled yes.
        Assert.That(HashSlot.Of("foo{}{bar}"), Is.EqualTo(8363));
        Assert.That(HashSlot.Of("foo{{bar}}zap"), Is.EqualTo(4015));
        Assert.That(HashSlot.Of("foo{{bar}}zap"), Is.EqualTo(HashSlot.Of("{bar")));
        Assert.That(HashSlot.Of("foo{bar}{zap}"), Is.EqualTo(5061));
        Assert.That(HashSlot.Of("foo{bar}{zap}"), Is.EqualTo(HashSlot.Of("bar")));
        Assert.That(HashSlot.Of("{"), Is.EqualTo(4092));
        Assert.That(HashSlot.Of("svc-input"), Is.EqualTo(15636));
        Assert.That(HashSlot.Of("päivä-input"), Is.EqualTo(6550), "the slot of the UTF-8 bytes");
        Assert.That(HashSlot.Of("{orders-input}:lease:1-0"), Is.EqualTo(4468));
    }

    [Test]
    public void Default_names_come_from_the_service_name()
    {
        var keys = StreamKeys.For(new RecoverableStreamOptions { ServiceName = "orders" });

        Assert.That(keys.Lbs, Is.EqualTo("orders-input"));
        Assert.That(keys.Group, Is.EqualTo("orders-group"));
        Assert.That(keys.Sessions, Is.EqualTo("{orders-input}:sessions"));
        Assert.That(keys.Owners, Is.EqualTo("{orders-input}:owners"));
        Assert.That(keys.Owned, Is.EqualTo("{orders-input}:owned"));
        Assert.That(keys.Counts, Is.EqualTo("{orders-input}:counts"));
        Assert.That(keys.Free, Is.EqualTo("{orders-input}:free"));
        Assert.That(keys.Names, Is.EqualTo("{orders-input}:names"));
        Assert.That(keys.Fence, Is.EqualTo("{orders-input}:fence"));
        Assert.That(keys.Attempts, Is.EqualTo("{orders-input}:attempts"));
        Assert.That(keys.Dead, Is.EqualTo("{orders-input}:dead"));
        Assert.That(keys.Events, Is.EqualTo("{orders-input}:events"));
        Assert.That(keys.Checkpoint("1-0"), Is.EqualTo("{orders-input}:ckpt:1-0"));
    }

    [Test]
    public void Overrides_replace_the_lbs_key_and_group_and_an_existing_hash_tag_is_kept()
    {
        var keys = StreamKeys.For(new RecoverableStreamOptions { ServiceName = "orders", LbsStreamKey = "{eu}-orders", ConsumerGroup = "workers" });

        Assert.That(keys.Lbs, Is.EqualTo("{eu}-orders"));
        Assert.That(keys.Group, Is.EqualTo("workers"));
        Assert.That(keys.Checkpoint("1-0"), Is.EqualTo("{eu}-orders:ckpt:1-0"));
        Assert.That(HashSlot.Of(keys.Checkpoint("1-0")), Is.EqualTo(HashSlot.Of("eu")));
    }

    [Test]
    public void Two_services_sharing_a_hash_tag_never_share_control_keys()
    {
        var a = new StreamKeys("{eu}-orders", "g");
        var b = new StreamKeys("{eu}-payments", "g");

        Assert.That(a.Owners, Is.Not.EqualTo(b.Owners));
        Assert.That(HashSlot.Of(a.Owners), Is.EqualTo(HashSlot.Of(b.Owners)));
    }

    [TestCase("", false)]
    [TestCase("plain", true)]
    [TestCase("{tag}rest", true)]
    [TestCase("no-tag}", false)]
    [TestCase("{}x}", false)]
    [TestCase("x{}y", false)]
    [TestCase("x{y", true)]
    public void Unusable_lbs_keys_are_refused(string key, bool usable)
    {
        Assert.That(StreamKeys.IsUsableLbsKey(key), Is.EqualTo(usable));
        if (usable)
        {
            Assert.DoesNotThrow(() => _ = new StreamKeys(key, "g"));
        }
        else
        {
            Assert.Throws<ArgumentException>(() => _ = new StreamKeys(key, "g"));
        }
    }
}
