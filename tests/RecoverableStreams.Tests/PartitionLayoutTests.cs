using System.Text;
using RecoverableStreams.Keys;

namespace RecoverableStreams.Tests;

/// <summary>
/// The partitioned key layout of docs/PARTITIONS.md: the stream-to-partition mapping, the partition key names, and the
/// promise that one partition is today's layout byte for byte. Expected names and partitions were produced by the
/// Python reference code in docs/PARTITIONS.md (binascii.crc_hqx), an implementation independent of this one.
/// </summary>
public sealed class PartitionLayoutTests
{
    [Test]
    public void Crc16_is_xmodem_as_python_crc_hqx_computes_it()
    {
        // The CRC-16/XMODEM check value, and binascii.crc_hqx(name.encode(), 0) for a few names.
        Assert.That(Crc("123456789"), Is.EqualTo(0x31C3));
        Assert.That(Crc(""), Is.EqualTo(0));
        Assert.That(Crc("orders/1"), Is.EqualTo(52517));
        Assert.That(Crc("sensor-42"), Is.EqualTo(33176));
        Assert.That(Crc("päivä"), Is.EqualTo(8631), "the CRC of the UTF-8 bytes");
        Assert.That(Crc("流"), Is.EqualTo(29376));
    }

    [TestCase("orders/1", new[] { 1, 2, 1, 5, 293 })]
    [TestCase("sensor-42", new[] { 0, 2, 0, 8, 408 })]
    [TestCase("päivä", new[] { 1, 0, 3, 7, 439 })]
    [TestCase("流", new[] { 0, 0, 0, 0, 704 })]
    [TestCase("a", new[] { 1, 1, 3, 7, 135 })]
    public void A_stream_maps_to_its_crc_modulo_the_partition_count(string name, int[] expected)
    {
        int[] counts = [2, 3, 4, 16, 1024];
        var actual = counts.Select(p => PartitionLayout.PartitionOf(name, p)).ToArray();

        Assert.That(actual, Is.EqualTo(expected));
        Assert.That(PartitionLayout.PartitionOf(name, 1), Is.Zero);
    }

    [Test]
    public void One_partition_is_todays_layout_byte_for_byte()
    {
        var options = new RecoverableStreamOptions { ServiceName = "orders" };
        var layout = PartitionLayout.For(options);
        var keys = layout[0];

        Assert.That(layout.Count, Is.EqualTo(1));
        Assert.That(keys.Lbs, Is.EqualTo("orders-input"));
        Assert.That(keys.Group, Is.EqualTo("orders-group"));
        Assert.That(keys.Prefix, Is.EqualTo("{orders-input}"));
        Assert.That(keys.Sessions, Is.EqualTo(StreamKeys.For(options).Sessions));
        Assert.That(keys.Owners, Is.EqualTo("{orders-input}:owners"));
        Assert.That(keys.Checkpoint("1-0"), Is.EqualTo("{orders-input}:ckpt:1-0"));
        Assert.That(layout.IdOf(0, "1-0"), Is.EqualTo("1-0"), "ids stay bare LBS entry ids");
        Assert.That(layout.PartitionOf("anything"), Is.Zero);
    }

    [Test]
    public void One_partition_keeps_an_lbs_key_override_and_its_hash_tag()
    {
        var layout = PartitionLayout.For(new RecoverableStreamOptions { ServiceName = "orders", LbsStreamKey = "{eu}-orders" });

        Assert.That(layout[0].Lbs, Is.EqualTo("{eu}-orders"));
        Assert.That(layout[0].Owners, Is.EqualTo("{eu}-orders:owners"));
    }

    [Test]
    public void Partition_keys_have_the_documented_names()
    {
        var layout = PartitionLayout.For(new RecoverableStreamOptions { ServiceName = "orders", Partitions = 3 });

        Assert.That(layout.Partitions.Select(k => k.Lbs), Is.EqualTo(new[] { "orders-input:0:2", "orders-input:1:0", "orders-input:2:3" }));
        Assert.That(layout.Partitions.Select(k => HashSlot.Of(k.Lbs)), Is.EqualTo(new[] { 2379, 7737, 14090 }));
        var keys = layout[1];
        Assert.That(keys.Group, Is.EqualTo("orders-group"), "every partition's LBS has the service's group");
        Assert.That(keys.Sessions, Is.EqualTo("{orders-input:1:0}:sessions"));
        Assert.That(keys.Owners, Is.EqualTo("{orders-input:1:0}:owners"));
        Assert.That(keys.Events, Is.EqualTo("{orders-input:1:0}:events"));
        Assert.That(keys.Checkpoint("5-0"), Is.EqualTo("{orders-input:1:0}:ckpt:5-0"));
    }

    [Test]
    public void Each_partitions_control_keys_share_its_lbs_slot()
    {
        var layout = new PartitionLayout("svc-input", "g", 8);
        foreach (var keys in layout.Partitions)
        {
            var slot = HashSlot.Of(keys.Lbs);
            foreach (var key in new[] { keys.Sessions, keys.Owners, keys.Owned, keys.Counts, keys.Free, keys.Names, keys.Fence, keys.Attempts, keys.Dead, keys.Events, keys.ReconcileGuard, keys.Checkpoint("1-0") })
            {
                Assert.That(HashSlot.Of(key), Is.EqualTo(slot), key);
            }
        }
    }

    [TestCase(2)]
    [TestCase(3)]
    [TestCase(100)]
    [TestCase(PartitionLayout.MaxPartitions)]
    public void Every_partition_has_its_own_slot_inside_its_slice(int count)
    {
        var layout = new PartitionLayout("orders-input", "g", count);
        var slots = layout.Partitions.Select(k => HashSlot.Of(k.Lbs)).ToArray();

        Assert.That(slots.Distinct().Count(), Is.EqualTo(count));
        for (var i = 0; i < count; i++)
        {
            var (first, end) = PartitionLayout.SlotWindow(i, count);
            Assert.That(slots[i], Is.GreaterThanOrEqualTo(first).And.LessThan(end), $"partition {i}");
        }
    }

    [Test]
    public void On_a_cluster_made_by_redis_cli_each_primary_holds_an_equal_share_of_the_partitions()
    {
        foreach (var primaries in Enumerable.Range(1, 16))
        {
            var ranges = RedisCliSlotRanges(primaries);
            foreach (var perPrimary in new[] { 1, 2, 3, 8 })
            {
                var count = primaries * perPrimary;
                if (count == 1)
                {
                    continue;
                }

                var layout = new PartitionLayout("svc-input", "g", count);
                var held = new int[primaries];
                foreach (var keys in layout.Partitions)
                {
                    var slot = HashSlot.Of(keys.Lbs);
                    held[Array.FindIndex(ranges, r => slot >= r.First && slot <= r.Last)]++;
                }

                Assert.That(held, Is.All.EqualTo(perPrimary), $"{count} partitions on {primaries} primaries");
            }
        }
    }

    [Test]
    public void Ids_name_their_partition_when_there_are_several()
    {
        var layout = new PartitionLayout("svc-input", "g", 4);

        Assert.That(layout.IdOf(3, "1700000000000-0"), Is.EqualTo("3:1700000000000-0"));
        Assert.That(layout.TryParseId("3:1700000000000-0", out var partition, out var entry), Is.True);
        Assert.That((partition, entry), Is.EqualTo((3, "1700000000000-0")));
        foreach (var bad in new[] { "1700000000000-0", "4:1-0", "-1:1-0", "03:1-0", ":1-0", "1:", "x:1-0", " 1:1-0" })
        {
            Assert.That(layout.TryParseId(bad, out _, out _), Is.False, bad);
        }
    }

    [Test]
    public void Partitioned_keys_are_refused_where_code_expects_a_single_layout()
    {
        var ex = Assert.Throws<ArgumentException>(() => StreamKeys.For(new RecoverableStreamOptions { ServiceName = "svc", Partitions = 2 }));
        Assert.That(ex!.Message, Does.Contain("PartitionLayout"));
    }

    [TestCase(0)]
    [TestCase(-1)]
    [TestCase(PartitionLayout.MaxPartitions + 1)]
    public void Partition_counts_out_of_range_are_refused(int count)
    {
        var errors = new RecoverableStreamOptions { ServiceName = "svc", Partitions = count }.Validate();

        Assert.That(errors, Is.EqualTo(new[] { "Partitions must be between 1 and 1024." }));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new PartitionLayout("svc-input", "g", count));
    }

    [TestCase("{eu}-orders")]
    [TestCase("x{y")]
    public void Several_partitions_refuse_an_lbs_key_with_braces(string lbs)
    {
        var errors = new RecoverableStreamOptions { ServiceName = "svc", LbsStreamKey = lbs, Partitions = 2 }.Validate();

        Assert.That(errors, Is.EqualTo(new[] { "LbsStreamKey must not contain '{' or '}' when Partitions is more than 1: each partition gets its own hash tag, derived from the key." }));
        Assert.Throws<ArgumentException>(() => _ = new PartitionLayout(lbs, "g", 2));
        Assert.That(new RecoverableStreamOptions { ServiceName = "svc", LbsStreamKey = lbs }.Validate(), Is.Empty, "one partition keeps accepting it");
    }

    [Test]
    public void Several_partitions_accept_a_plain_lbs_key_override()
    {
        var options = new RecoverableStreamOptions { ServiceName = "svc", LbsStreamKey = "eu-orders", Partitions = 2 };

        Assert.That(options.Validate(), Is.Empty);
        Assert.That(PartitionLayout.For(options)[0].Lbs, Does.StartWith("eu-orders:0:"));
    }

    private static int Crc(string text) => HashSlot.Crc16(Encoding.UTF8.GetBytes(text));

    /// <summary>The slot ranges <c>redis-cli --cluster create</c> gives N primaries (clusterManagerCommandCreate in redis-cli.c).</summary>
    private static (int First, int Last)[] RedisCliSlotRanges(int primaries)
    {
        var ranges = new (int, int)[primaries];
        var perNode = HashSlot.SlotCount / (double)primaries;
        var first = 0;
        var cursor = 0.0;
        for (var i = 0; i < primaries; i++)
        {
            var last = (int)Math.Round(cursor + perNode - 1, MidpointRounding.AwayFromZero);
            if (last > HashSlot.SlotCount || i == primaries - 1)
            {
                last = HashSlot.SlotCount - 1;
            }

            last = Math.Max(last, first);
            ranges[i] = (first, last);
            first = last + 1;
            cursor += perNode;
        }

        return ranges;
    }
}
