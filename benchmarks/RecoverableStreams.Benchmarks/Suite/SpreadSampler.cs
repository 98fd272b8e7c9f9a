using RecoverableStreams.Benchmarks.Infrastructure;

namespace RecoverableStreams.Benchmarks.Suite;

/// <summary>Samples how many streams each consumer owns after a consumer joined, until max/min ≤ 1.2 or the deadline.</summary>
internal static class SpreadSampler
{
    public const double Target = 1.2;

    internal sealed record Point(double Seconds, int Max, int Min)
    {
        public double Ratio => Min == 0 ? double.PositiveInfinity : (double)Max / Min;
    }

    /// <summary>Two lease durations (the target) plus slack to see whether it settles later.</summary>
    public static TimeSpan Duration(TimeSpan lease) => (lease * 2) + TimeSpan.FromSeconds(10);

    public static async Task<IReadOnlyList<Point>> ObserveAsync(Func<int[]> owned, TimeSpan duration)
    {
        var points = new List<Point>();
        var start = Clock.NowMs;
        double? reachedAt = null;
        while (Clock.NowMs - start < duration.TotalMilliseconds)
        {
            var counts = owned();
            var point = new Point((Clock.NowMs - start) / 1000.0, counts.Max(), counts.Min());
            points.Add(point);
            if (point.Ratio <= Target)
            {
                reachedAt ??= point.Seconds;
                if (point.Seconds - reachedAt > 2)
                {
                    break;
                }
            }
            else
            {
                reachedAt = null;
            }

            await Task.Delay(250);
        }

        return points;
    }

    public static void Report(SuiteReport report, int n, Library library, IReadOnlyList<Point> points)
    {
        var first = points[0];
        var last = points[^1];
        report.Set("spread.end", n, library, new Cell(double.IsInfinity(last.Ratio) ? null : last.Ratio, $"{RowHelpers.Ratio(first.Max, first.Min)} → {RowHelpers.Ratio(last.Max, last.Min)}"));
        // The first sample of the last run at or under the target.
        var settled = points.Count - 1;
        while (settled >= 0 && points[settled].Ratio <= Target)
        {
            settled--;
        }

        report.Set("spread.time", n, library, settled < points.Count - 1
            ? Cell.Ms(points[settled + 1].Seconds * 1000)
            : Cell.Note($"not within {last.Seconds:F0} s"));
        report.AddSpread(n, library, points.Select(p => (p.Seconds, Math.Min(p.Ratio, 1000))).ToArray());
    }
}
