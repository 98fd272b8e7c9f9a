using System.Globalization;
using System.Text;

namespace RecoverableStreams.FaultTests.Infrastructure;

/// <summary>
/// The keys of a fault scenario's service as docs/PARTITIONS.md specifies them, written out here rather than taken from
/// the library (its layout is internal, and a test that derives key names with the code under test cannot notice that
/// code naming them wrongly): with one partition the LBS key <c>&lt;service&gt;-input</c> and control keys under
/// <c>{&lt;service&gt;-input}:</c>; with P &gt; 1, partition i's LBS key <c>&lt;service&gt;-input:i:k</c> for the smallest k
/// whose cluster slot lies in slice i of the 16,384 slots (one slot in from each end), control keys under
/// <c>{&lt;that key&gt;}:</c>, a data stream in partition <c>CRC16(name) mod P</c>, and the ids applications see
/// <c>i:&lt;entry id&gt;</c>. <see cref="FaultRun"/> checks at start that every worker opened its session under each of
/// these prefixes, so a wrong name here fails the run rather than hiding a partition.
/// </summary>
internal sealed class ServiceKeys
{
    private const int SlotCount = 16384;

    public ServiceKeys(string service, int partitions)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitions, 1);
        Service = service;
        Group = service + "-group";
        var baseKey = service + "-input";
        Lbs = [.. Enumerable.Range(0, partitions).Select(i => partitions == 1 ? baseKey : PartitionLbsKey(baseKey, i, partitions))];
        ControlPrefixes = [.. Lbs.Select(lbs => "{" + lbs + "}:")];
    }

    public string Service { get; }

    public string Group { get; }

    public int Count => Lbs.Count;

    /// <summary>Each partition's LBS stream.</summary>
    public IReadOnlyList<string> Lbs { get; }

    /// <summary>Each partition's control-key prefix, <c>{L_i}:</c>.</summary>
    public IReadOnlyList<string> ControlPrefixes { get; }

    public string Sessions(int partition) => ControlPrefixes[partition] + "sessions";

    public string Owners(int partition) => ControlPrefixes[partition] + "owners";

    public string Dead(int partition) => ControlPrefixes[partition] + "dead";

    /// <summary>The id an application sees for entry <paramref name="entryId"/> of a partition (the producer's LbsId).</summary>
    public string IdOf(int partition, string entryId) => Count == 1 ? entryId : partition.ToString(CultureInfo.InvariantCulture) + ":" + entryId;

    /// <summary>The partition a data stream is announced in.</summary>
    public int PartitionOf(string dataStreamName) => Count == 1 ? 0 : Crc16(Encoding.UTF8.GetBytes(dataStreamName)) % Count;

    private static string PartitionLbsKey(string baseKey, int index, int count)
    {
        var first = (index * SlotCount / count) + 1;
        var end = ((index + 1) * SlotCount / count) - 1;
        for (var k = 0; ; k++)
        {
            var key = string.Create(CultureInfo.InvariantCulture, $"{baseKey}:{index}:{k}");
            var slot = Crc16(Encoding.UTF8.GetBytes(key)) % SlotCount;
            if (slot >= first && slot < end)
            {
                return key;
            }
        }
    }

    /// <summary>CRC16/XMODEM (polynomial 0x1021, initial 0), bit by bit.</summary>
    private static int Crc16(byte[] data)
    {
        var crc = 0;
        foreach (var b in data)
        {
            crc ^= b << 8;
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 0x8000) != 0 ? ((crc << 1) ^ 0x1021) & 0xFFFF : (crc << 1) & 0xFFFF;
            }
        }

        return crc;
    }
}
