using System.Globalization;
using RecoverableStreams.Benchmarks.Infrastructure;

namespace RecoverableStreams.Benchmarks.Suite;

/// <summary>
/// One measured value of the report: a number (for ratios and charts) and its text, or only a text when the row
/// could not be measured (n/a with the reason, or a timeout with what was reached).
/// </summary>
internal sealed record Cell(double? Value, string Text)
{
    public static Cell Ms(double milliseconds) =>
        double.IsNaN(milliseconds) ? new Cell(null, "-") : new Cell(Math.Max(milliseconds, 0.001), Stats.Ms(milliseconds));

    public static Cell Rate(double value, string unit) =>
        new(value, value >= 100 ? $"{value.ToString("N0", CultureInfo.InvariantCulture)} {unit}" : $"{value.ToString("0.0", CultureInfo.InvariantCulture)} {unit}");

    public static Cell Count(long value) => new(value, value.ToString(CultureInfo.InvariantCulture));

    public static Cell Ratio(double value) => new(value, value.ToString("0.##", CultureInfo.InvariantCulture));

    public static Cell Note(string text) => new(null, text);
}

/// <summary>The three mechanisms measured side by side.</summary>
internal enum Library
{
    /// <summary>This library, through its public API.</summary>
    Ours,

    /// <summary>The Go library's mechanism: a TTL key per stream, expiry found by keyspace events (Peers/TtlKeyPeer).</summary>
    TtlKeys,

    /// <summary>RedLock.net 2.3.2 in a child process.</summary>
    RedLock,
}
