using System.Text;

namespace RecoverableStreams.Keys;

/// <summary>Redis Cluster's key-to-slot function (CRC16/XMODEM of the key or its hash tag, modulo 16384).</summary>
internal static class HashSlot
{
    public const int SlotCount = 16384;

    public static bool HasHashTag(string key) => TryGetHashTag(key, out _);

    public static int Of(string key)
    {
        var bytes = Encoding.UTF8.GetBytes(key);
        var span = (ReadOnlySpan<byte>)bytes;
        var open = span.IndexOf((byte)'{');
        if (open >= 0)
        {
            var close = span[(open + 1)..].IndexOf((byte)'}');
            if (close > 0)
            {
                span = span.Slice(open + 1, close);
            }
        }

        return Crc16(span) % SlotCount;
    }

    private static bool TryGetHashTag(string key, out string tag)
    {
        tag = "";
        var open = key.IndexOf('{', StringComparison.Ordinal);
        if (open < 0)
        {
            return false;
        }

        var close = key.IndexOf('}', open + 1);
        if (close <= open + 1)
        {
            return false;
        }

        tag = key[(open + 1)..close];
        return true;
    }

    /// <summary>CRC16/XMODEM (polynomial 0x1021, initial value 0), the checksum Redis Cluster hashes keys with.</summary>
    public static int Crc16(ReadOnlySpan<byte> data)
    {
        var crc = 0;
        foreach (var b in data)
        {
            crc = ((crc << 8) ^ Table[((crc >> 8) ^ b) & 0xFF]) & 0xFFFF;
        }

        return crc;
    }

    /// <summary>The CRC of each byte value: one lookup per byte instead of eight shifts (partition tags hash many candidates).</summary>
    private static readonly int[] Table = BuildTable();

    private static int[] BuildTable()
    {
        var table = new int[256];
        for (var value = 0; value < 256; value++)
        {
            var crc = value << 8;
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1;
            }

            table[value] = crc & 0xFFFF;
        }

        return table;
    }
}
