using System.Globalization;
using System.Text;

namespace RecoverableStreams.Benchmarks.Suite;

/// <summary>
/// Collects every row of the suite (per metric, N and library) and renders docs/BENCHMARKS.md with its SVG charts.
/// </summary>
internal sealed class SuiteReport
{
    private readonly List<Metric> _metrics = [];
    private readonly Dictionary<(string Metric, int N, Library Library), Cell> _cells = [];
    private readonly Dictionary<(string Metric, Library Library), string> _reasons = [];
    private readonly SortedDictionary<int, List<(string Name, IReadOnlyList<(double X, double Y)> Points)>> _spreads = [];

    public static readonly IReadOnlyDictionary<Library, string> Names = new Dictionary<Library, string>
    {
        [Library.Ours] = "RecoverableStreams",
        [Library.TtlKeys] = "TTL key per stream (Go library's mechanism)",
        [Library.RedLock] = "RedLock.net 2.3.2",
    };

    /// <summary>The names in chart legends.</summary>
    public static readonly IReadOnlyDictionary<Library, string> ShortNames = new Dictionary<Library, string>
    {
        [Library.Ours] = "RecoverableStreams",
        [Library.TtlKeys] = "TTL keys (Go)",
        [Library.RedLock] = "RedLock.net",
    };

    /// <summary>Declares a metric (in report order). <paramref name="chart"/> names its SVG file, or null for none.</summary>
    public void Define(string id, string section, string title, string explanation, string? chart = null) =>
        _metrics.Add(new Metric(id, section, title, explanation, chart));

    public void Set(string metric, int n, Library library, Cell cell)
    {
        _cells[(metric, n, library)] = cell;
        Console.WriteLine($"    {metric} N={n} {library}: {cell.Text}");
    }

    public Cell? Get(string metric, int n, Library library) => _cells.TryGetValue((metric, n, library), out var cell) ? cell : null;

    /// <summary>Why a library cannot do a metric: its cells read "n/a" and the reason goes under the table.</summary>
    public void NotApplicable(string metric, Library library, string reason) => _reasons[(metric, library)] = reason;

    /// <summary>One library's max/min owned over time after the late consumer joined, drawn per N.</summary>
    public void AddSpread(int n, Library library, IReadOnlyList<(double X, double Y)> points)
    {
        if (!_spreads.TryGetValue(n, out var series))
        {
            _spreads[n] = series = [];
        }

        series.Add((ShortNames[library], points));
    }

    public string ToMarkdown(string header, string chartDirectory, string chartLinkPrefix)
    {
        var text = new StringBuilder(header);
        var sizes = _cells.Keys.Select(k => k.N).Distinct().Order().ToArray();
        string? section = null;
        foreach (var metric in _metrics)
        {
            var rows = sizes.Where(n => Enum.GetValues<Library>().Any(l => _cells.ContainsKey((metric.Id, n, l)))).ToArray();
            if (rows.Length == 0)
            {
                continue;
            }

            if (metric.Section != section)
            {
                section = metric.Section;
                text.AppendLine($"## {section}").AppendLine();
            }

            text.AppendLine($"### {metric.Title}").AppendLine();
            text.AppendLine("| N | " + string.Join(" | ", Enum.GetValues<Library>().Select(l => Names[l])) + " | ours ÷ TTL keys | ours ÷ RedLock.net |");
            text.AppendLine("|---:|---|---|---|---:|---:|");
            foreach (var n in rows)
            {
                var cells = Enum.GetValues<Library>().Select(l => CellOf(metric.Id, n, l)).ToArray();
                text.AppendLine($"| {n.ToString("N0", CultureInfo.InvariantCulture)} | {string.Join(" | ", cells.Select(c => c.Text))} | {RatioText(cells[0], cells[1])} | {RatioText(cells[0], cells[2])} |");
            }

            text.AppendLine();
            text.AppendLine(metric.Explanation);
            foreach (var library in Enum.GetValues<Library>())
            {
                if (_reasons.TryGetValue((metric.Id, library), out var reason))
                {
                    text.AppendLine($"- n/a for {Names[library]}: {reason}");
                }
            }

            text.AppendLine();
            if (metric.Chart is { } chart)
            {
                var series = Enum.GetValues<Library>()
                    .Where(l => rows.Any(n => CellOf(metric.Id, n, l).Value is not null))
                    .Select(l => (ShortNames[l], rows.Select(n => CellOf(metric.Id, n, l).Value).ToArray()))
                    .ToArray();
                if (series.Length > 0)
                {
                    var svg = Infrastructure.SvgChart.GroupedBars(metric.Title, metric.Title.Split(',')[0], rows.Select(n => $"N = {n.ToString("N0", CultureInfo.InvariantCulture)}").ToArray(), series);
                    File.WriteAllText(Path.Combine(chartDirectory, chart + ".svg"), svg);
                    text.AppendLine($"![{metric.Title}]({chartLinkPrefix}{chart}.svg)").AppendLine();
                }
            }
        }

        if (_spreads.Count > 0)
        {
            text.AppendLine("### Spread over time after the late consumer joined").AppendLine();
            foreach (var (n, series) in _spreads)
            {
                var title = $"max / min owned across 4 consumers, N = {n.ToString("N0", CultureInfo.InvariantCulture)}";
                var file = $"spread-{n}.svg";
                File.WriteAllText(Path.Combine(chartDirectory, file), Infrastructure.SvgChart.Lines(title, "seconds after the 4th consumer joined", "max / min owned", series, yCap: 5, threshold: 1.2));
                text.AppendLine($"![{title}]({chartLinkPrefix}{file})").AppendLine();
            }

            text.AppendLine("A consumer that owns nothing makes max / min infinite; the charts draw it at the cap (5).").AppendLine();
        }

        return text.ToString();
    }

    private Cell CellOf(string metric, int n, Library library) =>
        _cells.TryGetValue((metric, n, library), out var cell) ? cell
        : _reasons.ContainsKey((metric, library)) ? Cell.Note("n/a")
        : Cell.Note("-");

    private static string RatioText(Cell ours, Cell peer)
    {
        if (ours.Value is not { } a || peer.Value is not { } b || b <= 0)
        {
            return "-";
        }

        // Small ratios as "1/667", so a thousandfold difference does not print as 0.
        var ratio = a / b;
        return ratio switch
        {
            0 => "0",
            < 0.01 => "1/" + (1 / ratio).ToString("N0", CultureInfo.InvariantCulture),
            >= 10 => ratio.ToString("N0", CultureInfo.InvariantCulture),
            _ => ratio.ToString("0.##", CultureInfo.InvariantCulture),
        };
    }

    private sealed record Metric(string Id, string Section, string Title, string Explanation, string? Chart);
}
