using System.Globalization;
using System.Net;
using System.Text;

namespace RecoverableStreams.Benchmarks.Infrastructure;

/// <summary>
/// A small SVG writer for the report's charts (grouped bars on a log scale, lines over time), so regenerating
/// docs/BENCHMARKS.md needs no download and no plotting package.
/// </summary>
internal static class SvgChart
{
    private const int Width = 720;
    private const int Height = 360;
    private const int Left = 80;
    private const int Right = 170;
    private const int Top = 40;
    private const int Bottom = 60;
    private static readonly string[] Colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"];

    /// <summary>
    /// Bars per category (e.g. N) and series (e.g. library), on a log10 axis. A missing value (null) is drawn as
    /// a small "n/a" mark, so an absent bar never reads as zero.
    /// </summary>
    public static string GroupedBars(string title, string yLabel, IReadOnlyList<string> categories, IReadOnlyList<(string Name, double?[] Values)> series)
    {
        var present = series.SelectMany(s => s.Values).Where(v => v is > 0).Select(v => v!.Value).ToArray();
        var min = present.Length == 0 ? 1 : Math.Pow(10, Math.Floor(Math.Log10(present.Min())));
        var max = present.Length == 0 ? 10 : Math.Pow(10, Math.Ceiling(Math.Log10(present.Max())));
        if (max <= min)
        {
            max = min * 10;
        }

        var plotWidth = Width - Left - Right;
        var plotHeight = Height - Top - Bottom;
        double Y(double v) => Top + plotHeight - ((Math.Log10(v) - Math.Log10(min)) / (Math.Log10(max) - Math.Log10(min)) * plotHeight);

        var svg = Begin(title);
        for (var decade = min; decade <= max * 1.0001; decade *= 10)
        {
            var y = Y(decade);
            svg.AppendLine(Inv($"<line x1=\"{Left}\" y1=\"{y:F1}\" x2=\"{Left + plotWidth}\" y2=\"{y:F1}\" stroke=\"#ddd\"/>"));
            svg.AppendLine(Inv($"<text x=\"{Left - 6}\" y=\"{y + 4:F1}\" text-anchor=\"end\">{Label(decade)}</text>"));
        }

        var groupWidth = plotWidth / (double)Math.Max(1, categories.Count);
        var barWidth = groupWidth * 0.8 / Math.Max(1, series.Count);
        for (var c = 0; c < categories.Count; c++)
        {
            var groupLeft = Left + (c * groupWidth) + (groupWidth * 0.1);
            for (var s = 0; s < series.Count; s++)
            {
                var x = groupLeft + (s * barWidth);
                if (series[s].Values[c] is > 0 and var value)
                {
                    var y = Y(Math.Max(value, min));
                    svg.AppendLine(Inv($"<rect x=\"{x:F1}\" y=\"{y:F1}\" width=\"{barWidth - 2:F1}\" height=\"{Top + plotHeight - y:F1}\" fill=\"{Colors[s % Colors.Length]}\"><title>{Escape(series[s].Name)}, {Escape(categories[c])}: {Label(value)}</title></rect>"));
                    svg.AppendLine(Inv($"<text x=\"{x + ((barWidth - 2) / 2):F1}\" y=\"{y - 3:F1}\" text-anchor=\"middle\" font-size=\"9\">{Label(value)}</text>"));
                }
                else
                {
                    svg.AppendLine(Inv($"<text x=\"{x + ((barWidth - 2) / 2):F1}\" y=\"{Top + plotHeight - 4:F1}\" text-anchor=\"middle\" font-size=\"9\" fill=\"{Colors[s % Colors.Length]}\">n/a</text>"));
                }
            }

            svg.AppendLine(Inv($"<text x=\"{groupLeft + (groupWidth * 0.4):F1}\" y=\"{Top + plotHeight + 18}\" text-anchor=\"middle\">{Escape(categories[c])}</text>"));
        }

        Axes(svg, plotWidth, plotHeight, yLabel + " (log scale)", "");
        Legend(svg, series.Select(s => s.Name).ToArray());
        return End(svg);
    }

    /// <summary>Lines of (x, y) points on linear axes; y values above <paramref name="yCap"/> are drawn at the cap.</summary>
    public static string Lines(string title, string xLabel, string yLabel, IReadOnlyList<(string Name, IReadOnlyList<(double X, double Y)> Points)> series, double yCap, double? threshold = null)
    {
        var points = series.SelectMany(s => s.Points).ToArray();
        var maxX = points.Length == 0 ? 1 : Math.Max(1, points.Max(p => p.X));
        var highest = points.Length == 0 ? 2 : Math.Max(threshold ?? 0, points.Max(p => Math.Min(p.Y, yCap)));
        var maxY = highest >= yCap ? yCap : highest * 1.1;
        var plotWidth = Width - Left - Right;
        var plotHeight = Height - Top - Bottom;
        double X(double v) => Left + (v / maxX * plotWidth);
        double Y(double v) => Top + plotHeight - (Math.Min(v, yCap) / maxY * plotHeight);

        var svg = Begin(title);
        for (var i = 0; i <= 4; i++)
        {
            var value = maxY * i / 4;
            svg.AppendLine(Inv($"<line x1=\"{Left}\" y1=\"{Y(value):F1}\" x2=\"{Left + plotWidth}\" y2=\"{Y(value):F1}\" stroke=\"#ddd\"/>"));
            svg.AppendLine(Inv($"<text x=\"{Left - 6}\" y=\"{Y(value) + 4:F1}\" text-anchor=\"end\">{value:0.##}</text>"));
            var x = maxX * i / 4;
            svg.AppendLine(Inv($"<text x=\"{X(x):F1}\" y=\"{Top + plotHeight + 18}\" text-anchor=\"middle\">{x:0.#}</text>"));
        }

        if (threshold is { } t)
        {
            svg.AppendLine(Inv($"<line x1=\"{Left}\" y1=\"{Y(t):F1}\" x2=\"{Left + plotWidth}\" y2=\"{Y(t):F1}\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>"));
            svg.AppendLine(Inv($"<text x=\"{Left + plotWidth - 4}\" y=\"{Y(t) - 4:F1}\" text-anchor=\"end\" fill=\"#666\">target {t:0.##}</text>"));
        }

        for (var s = 0; s < series.Count; s++)
        {
            if (series[s].Points.Count == 0)
            {
                continue;
            }

            var path = string.Join(' ', series[s].Points.Select((p, i) => Inv($"{(i == 0 ? 'M' : 'L')}{X(p.X):F1},{Y(p.Y):F1}")));
            // Later series dashed and a little thinner, so a line hidden under another still shows.
            var dash = s == 0 ? "" : " stroke-dasharray=\"7 4\"";
            svg.AppendLine(Inv($"<path d=\"{path}\" fill=\"none\" stroke=\"{Colors[s % Colors.Length]}\" stroke-width=\"{(s == 0 ? 3 : 2)}\"{dash}/>"));
        }

        Axes(svg, plotWidth, plotHeight, yLabel + (points.Any(p => p.Y > yCap) ? $" (capped at {yCap:0.#})" : ""), xLabel);
        Legend(svg, series.Select(s => s.Name).ToArray());
        return End(svg);
    }

    private static StringBuilder Begin(string title)
    {
        var svg = new StringBuilder();
        svg.AppendLine(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"11\">"));
        svg.AppendLine(Inv($"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>"));
        svg.AppendLine(Inv($"<text x=\"{Width / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">{Escape(title)}</text>"));
        return svg;
    }

    private static string End(StringBuilder svg) => svg.AppendLine("</svg>").ToString();

    private static void Axes(StringBuilder svg, int plotWidth, int plotHeight, string yLabel, string xLabel)
    {
        svg.AppendLine(Inv($"<line x1=\"{Left}\" y1=\"{Top}\" x2=\"{Left}\" y2=\"{Top + plotHeight}\" stroke=\"black\"/>"));
        svg.AppendLine(Inv($"<line x1=\"{Left}\" y1=\"{Top + plotHeight}\" x2=\"{Left + plotWidth}\" y2=\"{Top + plotHeight}\" stroke=\"black\"/>"));
        svg.AppendLine(Inv($"<text transform=\"translate(18,{Top + (plotHeight / 2)}) rotate(-90)\" text-anchor=\"middle\">{Escape(yLabel)}</text>"));
        svg.AppendLine(Inv($"<text x=\"{Left + (plotWidth / 2)}\" y=\"{Height - 16}\" text-anchor=\"middle\">{Escape(xLabel)}</text>"));
    }

    private static void Legend(StringBuilder svg, string[] names)
    {
        for (var i = 0; i < names.Length; i++)
        {
            var y = Top + 10 + (i * 20);
            svg.AppendLine(Inv($"<rect x=\"{Width - Right + 15}\" y=\"{y - 9}\" width=\"12\" height=\"12\" fill=\"{Colors[i % Colors.Length]}\"/>"));
            svg.AppendLine(Inv($"<text x=\"{Width - Right + 32}\" y=\"{y + 1}\">{Escape(names[i])}</text>"));
        }
    }

    private static string Label(double value) => value switch
    {
        >= 1_000_000 => (value / 1_000_000).ToString("0.#", CultureInfo.InvariantCulture) + "M",
        >= 10_000 => (value / 1000).ToString("0.#", CultureInfo.InvariantCulture) + "k",
        >= 10 => value.ToString("0", CultureInfo.InvariantCulture),
        >= 1 => value.ToString("0.#", CultureInfo.InvariantCulture),
        _ => value.ToString("0.###", CultureInfo.InvariantCulture),
    };

    private static string Escape(string text) => WebUtility.HtmlEncode(text);

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
