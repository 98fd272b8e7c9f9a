using System.Text;
using FsCheck;
using FsCheck.Fluent;
using RecoverableStreams.Keys;

namespace RecoverableStreams.Tests;

/// <summary>
/// The partition layout for any input: every name maps to a partition in range by the documented CRC (checked against
/// a bit-by-bit CRC16/XMODEM, not the table the library uses), every partition lands in its own slot inside its slice,
/// and partition-qualified ids round-trip.
/// </summary>
public sealed class PartitionPropertyTests
{
    [FsCheck.NUnit.Property(MaxTest = 500)]
    public Property Any_name_maps_to_its_bitwise_crc16_modulo_the_count() =>
        Prop.ForAll(Generators.Text().ToArbitrary(), Gen.Choose(1, PartitionLayout.MaxPartitions).ToArbitrary(), (name, count) =>
        {
            var partition = PartitionLayout.PartitionOf(name, count);
            return partition >= 0 && partition < count && partition == BitwiseCrc16(Encoding.UTF8.GetBytes(name)) % count;
        });

    [FsCheck.NUnit.Property(MaxTest = 200)]
    public Property Any_base_key_splits_into_partitions_with_distinct_slots_inside_their_slices() =>
        Prop.ForAll(BaseKeys().ToArbitrary(), Gen.Choose(2, 64).ToArbitrary(), (baseKey, count) =>
        {
            var layout = new PartitionLayout(baseKey, "group", count);
            var slots = new HashSet<int>();
            for (var i = 0; i < count; i++)
            {
                var keys = layout[i];
                var slot = BitwiseCrc16(Encoding.UTF8.GetBytes(keys.Lbs)) % HashSlot.SlotCount;
                var (first, end) = PartitionLayout.SlotWindow(i, count);
                if (!keys.Lbs.StartsWith(baseKey + ":" + i + ":", StringComparison.Ordinal) || slot < first || slot >= end
                    || !slots.Add(slot) || HashSlot.Of(keys.Checkpoint("1-0")) != slot || HashSlot.Of(keys.Sessions) != slot || HashSlot.Of(keys.Owners) != slot)
                {
                    return false;
                }
            }

            return true;
        });

    [FsCheck.NUnit.Property(MaxTest = 300)]
    public Property Partition_qualified_ids_round_trip() =>
        Prop.ForAll(Gen.Choose(2, PartitionLayout.MaxPartitions).ToArbitrary(), Gen.Choose(0, int.MaxValue).ToArbitrary(), Gen.Choose(0, 99).ToArbitrary(), (count, ms, seq) =>
        {
            var layout = new PartitionLayout("svc-input", "g", count);
            var partition = ms % count;
            var entryId = ms + "-" + seq;
            return layout.TryParseId(layout.IdOf(partition, entryId), out var p, out var e) && p == partition && e == entryId;
        });

    private static Gen<string> BaseKeys() =>
        Generators.Text().Select(s => s.Replace("{", "", StringComparison.Ordinal).Replace("}", "", StringComparison.Ordinal)).Where(s => s.Length > 0);

    /// <summary>CRC-16/XMODEM one bit at a time, as the Redis Cluster specification gives it.</summary>
    private static int BitwiseCrc16(byte[] data)
    {
        var crc = 0;
        foreach (var b in data)
        {
            crc ^= b << 8;
            for (var i = 0; i < 8; i++)
            {
                crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1;
            }
        }

        return crc & 0xFFFF;
    }
}
