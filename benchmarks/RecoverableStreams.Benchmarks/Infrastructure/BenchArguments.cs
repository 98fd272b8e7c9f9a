using System.Globalization;

namespace RecoverableStreams.Benchmarks.Infrastructure;

/// <summary>The command line: <c>&lt;scenario&gt; [--redis host:port] [--out [file]] [--name value ...]</c>.</summary>
internal sealed class BenchArguments
{
    private readonly Dictionary<string, string?> _flags = new(StringComparer.OrdinalIgnoreCase);

    private BenchArguments(string scenario, IReadOnlyList<string> rest)
    {
        Scenario = scenario;
        Rest = rest;
    }

    public string Scenario { get; }

    /// <summary>Arguments after the scenario, for BenchmarkDotNet's own switches.</summary>
    public IReadOnlyList<string> Rest { get; }

    public string? Redis => Get("redis");

    /// <summary>Whether to write a markdown summary under benchmarks/results/.</summary>
    public bool WriteSummary => _flags.ContainsKey("out");

    /// <summary>An explicit summary file, when <c>--out</c> was given a value.</summary>
    public string? SummaryPath => Get("out");

    public static BenchArguments Parse(string[] args)
    {
        if (args.Length == 0 || args[0].StartsWith("--", StringComparison.Ordinal))
        {
            throw new ArgumentException("The first argument is the scenario.");
        }

        var parsed = new BenchArguments(args[0].ToLowerInvariant(), args.Skip(1).ToArray());
        for (var i = 1; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                continue;
            }

            var hasValue = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal);
            parsed._flags[args[i][2..]] = hasValue ? args[++i] : null;
        }

        return parsed;
    }

    public bool Has(string name) => _flags.ContainsKey(name);

    public string? Get(string name) => _flags.TryGetValue(name, out var value) ? value : null;

    public int Int(string name, int fallback) =>
        Get(name) is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;

    public double Double(string name, double fallback) =>
        Get(name) is { } text ? double.Parse(text, CultureInfo.InvariantCulture) : fallback;

    public IReadOnlyList<int> Ints(string name, params int[] fallback) =>
        Get(name) is { } text ? text.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray() : fallback;
}
