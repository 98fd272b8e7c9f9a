using System.Globalization;
using System.Text;

namespace RecoverableStreams.Keys;

/// <summary>
/// The keys of a service split over <see cref="RecoverableStreamOptions.Partitions"/> partitions, each with its own LBS
/// stream and control keys under its own cluster hash tag (docs/PARTITIONS.md). One partition is today's layout, byte
/// for byte: the LBS key <c>&lt;ServiceName&gt;-input</c> (or <see cref="RecoverableStreamOptions.LbsStreamKey"/>) and
/// control keys under <c>{&lt;lbs&gt;}</c>.
/// </summary>
/// <remarks>
/// With P &gt; 1, partition i's LBS key is <c>&lt;base&gt;:&lt;i&gt;:&lt;k&gt;</c> for the smallest k ≥ 0 whose cluster slot
/// lies inside slice i of P equal slices of the 16,384 slots, one slot in from each end. The slices are disjoint, so
/// the partitions have distinct slots; and a cluster whose slots are split into equal contiguous ranges (what
/// <c>redis-cli --cluster create</c> does) holds P / primaries partitions on each primary when P is a multiple of the
/// primaries. The margin covers that tool's rounding of range boundaries.
/// </remarks>
internal sealed class PartitionLayout
{
    /// <summary>The most partitions a service may have: each costs every consumer one script call per round.</summary>
    public const int MaxPartitions = 1024;

    private readonly StreamKeys[] _partitions;

    public PartitionLayout(string baseLbsKey, string group, int count)
    {
        if (count is < 1 or > MaxPartitions)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"The partition count must be between 1 and {MaxPartitions}.");
        }

        if (count > 1 && !IsUsablePartitionedBase(baseLbsKey))
        {
            throw new ArgumentException("With more than one partition the LBS key must be non-empty and contain no '{' or '}': each partition gets its own hash tag.", nameof(baseLbsKey));
        }

        BaseLbsKey = baseLbsKey;
        _partitions = new StreamKeys[count];
        for (var i = 0; i < count; i++)
        {
            _partitions[i] = new StreamKeys(LbsKeyOf(baseLbsKey, i, count), group);
        }
    }

    public static PartitionLayout For(RecoverableStreamOptions options)
    {
        var service = options.ServiceName ?? throw new ArgumentException("ServiceName is required.", nameof(options));
        return new PartitionLayout(options.LbsStreamKey ?? service + "-input", options.ConsumerGroup ?? service + "-group", options.Partitions);
    }

    /// <summary>The LBS key the partition keys are derived from (the only LBS key with one partition).</summary>
    public string BaseLbsKey { get; }

    public int Count => _partitions.Length;

    /// <summary>Partition <paramref name="index"/>'s keys.</summary>
    public StreamKeys this[int index] => _partitions[index];

    public IReadOnlyList<StreamKeys> Partitions => _partitions;

    /// <summary>The partition a data stream is announced in.</summary>
    public int PartitionOf(string dataStreamName) => PartitionOf(dataStreamName, Count);

    /// <summary>CRC16/XMODEM of the name's UTF-8 bytes, modulo <paramref name="count"/> (Python: <c>binascii.crc_hqx(name.encode(), 0) % count</c>).</summary>
    public static int PartitionOf(string dataStreamName, int count)
    {
        ArgumentNullException.ThrowIfNull(dataStreamName);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        return count == 1 ? 0 : HashSlot.Crc16(Encoding.UTF8.GetBytes(dataStreamName)) % count;
    }

    /// <summary>Partition <paramref name="index"/>'s LBS key (see the remarks of <see cref="PartitionLayout"/>).</summary>
    public static string LbsKeyOf(string baseLbsKey, int index, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, count);
        if (count == 1)
        {
            return baseLbsKey;
        }

        var (first, end) = SlotWindow(index, count);
        var prefix = baseLbsKey + ":" + index.ToString(CultureInfo.InvariantCulture) + ":";
        var buffer = new byte[Encoding.UTF8.GetMaxByteCount(prefix.Length + 11)];
        var prefixLength = Encoding.UTF8.GetBytes(prefix, buffer);
        // Each candidate lands in the window with probability about 1/count: the expected search is count candidates.
        for (var k = 0; ; k++)
        {
            k.TryFormat(buffer.AsSpan(prefixLength), out var digits, provider: CultureInfo.InvariantCulture);
            var slot = HashSlot.Crc16(buffer.AsSpan(0, prefixLength + digits)) % HashSlot.SlotCount;
            if (slot >= first && slot < end)
            {
                return prefix + k.ToString(CultureInfo.InvariantCulture);
            }
        }
    }

    /// <summary>Slots [first, end) partition <paramref name="index"/>'s LBS key must hash to: its slice, minus one slot at each end.</summary>
    public static (int First, int End) SlotWindow(int index, int count) =>
        ((index * HashSlot.SlotCount / count) + 1, ((index + 1) * HashSlot.SlotCount / count) - 1);

    /// <summary>
    /// The id applications see for an LBS entry: the entry id itself with one partition, <c>&lt;partition&gt;:&lt;entry id&gt;</c>
    /// with more (entry ids are unique only within one LBS stream).
    /// </summary>
    public string IdOf(int partition, string entryId) =>
        Count == 1 ? entryId : partition.ToString(CultureInfo.InvariantCulture) + ":" + entryId;

    /// <summary>Splits an id made by <see cref="IdOf"/>; false when it names no partition of this layout.</summary>
    public bool TryParseId(string idInLbs, out int partition, out string entryId)
    {
        partition = 0;
        entryId = idInLbs;
        if (Count == 1)
        {
            return !string.IsNullOrEmpty(idInLbs);
        }

        var colon = idInLbs.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == idInLbs.Length - 1 || (colon > 1 && idInLbs[0] == '0')
            || !int.TryParse(idInLbs.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out partition)
            || partition >= Count)
        {
            partition = 0;
            return false;
        }

        entryId = idInLbs[(colon + 1)..];
        return true;
    }

    /// <summary>True when <paramref name="baseLbsKey"/> can be split into partitions: no hash tag of its own.</summary>
    public static bool IsUsablePartitionedBase(string baseLbsKey) =>
        !string.IsNullOrEmpty(baseLbsKey) && !baseLbsKey.Contains('{', StringComparison.Ordinal) && !baseLbsKey.Contains('}', StringComparison.Ordinal);
}
