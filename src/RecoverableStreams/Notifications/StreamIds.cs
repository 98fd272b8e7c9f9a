using System.Globalization;

namespace RecoverableStreams.Notifications;

/// <summary>Stream entry ids in the one spelling the safety-poll script compares: <c>ms-seq</c>, no leading zeros.</summary>
internal static class StreamIds
{
    /// <summary>
    /// The canonical form of a position a reader may start after: <c>ms-seq</c> or <c>ms</c> (sequence 0, as XRANGE
    /// reads it). Anything else becomes <c>0-0</c>, so the reader is woken by any entry rather than never.
    /// </summary>
    public static string Canonical(string position)
    {
        if (IsCanonical(position))
        {
            // Kept as is: a reader sleeping after it holds the string it already had, not a copy.
            return position;
        }

        var dash = position.IndexOf('-', StringComparison.Ordinal);
        var ms = dash < 0 ? position : position[..dash];
        var seq = dash < 0 ? "0" : position[(dash + 1)..];
        return ulong.TryParse(ms, NumberStyles.None, CultureInfo.InvariantCulture, out var msValue)
            && ulong.TryParse(seq, NumberStyles.None, CultureInfo.InvariantCulture, out var seqValue)
            ? string.Create(CultureInfo.InvariantCulture, $"{msValue}-{seqValue}")
            : "0-0";
    }

    /// <summary>Whether <paramref name="position"/> is <c>ms-seq</c> already: digits, one dash, no leading zeros, each part within 64 bits.</summary>
    private static bool IsCanonical(string position)
    {
        var dash = position.IndexOf('-', StringComparison.Ordinal);
        return dash > 0 && IsNumber(position.AsSpan(0, dash)) && IsNumber(position.AsSpan(dash + 1));

        static bool IsNumber(ReadOnlySpan<char> part) =>
            part.Length is > 0 and <= 19 && (part.Length == 1 || part[0] != '0') && !part.ContainsAnyExceptInRange('0', '9');
    }

    /// <summary>Whether canonical id <paramref name="id"/> comes after canonical <paramref name="position"/>.</summary>
    public static bool IsAfter(string id, string position)
    {
        var (idMs, idSeq) = Parse(id);
        var (posMs, posSeq) = Parse(position);
        return idMs > posMs || (idMs == posMs && idSeq > posSeq);
    }

    private static (ulong Ms, ulong Seq) Parse(string canonical)
    {
        var dash = canonical.IndexOf('-', StringComparison.Ordinal);
        return (ulong.Parse(canonical.AsSpan(0, dash), CultureInfo.InvariantCulture), ulong.Parse(canonical.AsSpan(dash + 1), CultureInfo.InvariantCulture));
    }
}
