namespace RecoverableStreams.Benchmarks.Infrastructure;

/// <summary>Percentiles of a sample (nearest-rank), in the sample's unit.</summary>
internal static class Stats
{
    public static double Percentile(IReadOnlyList<double> values, double percentile)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(percentile / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    public static string Ms(double milliseconds) =>
        double.IsNaN(milliseconds) ? "-" : milliseconds >= 100 ? $"{milliseconds:F0} ms" : $"{milliseconds:F2} ms";
}
