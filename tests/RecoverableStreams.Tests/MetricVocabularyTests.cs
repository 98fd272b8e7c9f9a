using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using RecoverableStreams.Diagnostics;
using RecoverableStreams.Hosting;
using RecoverableStreams.Hosting.Diagnostics;

namespace RecoverableStreams.Tests;

/// <summary>
/// One vocabulary: every instrument of the core and hosting meters has its own name (one instrument per fact), and the
/// instrument table of docs/HOSTING.md lists exactly the instruments that exist, with the meter that owns each.
/// </summary>
public sealed partial class MetricVocabularyTests
{
    [Test]
    public void No_two_instruments_of_the_core_and_hosting_meters_share_a_name_and_the_docs_list_each_one()
    {
        var published = PublishedInstruments();
        var documented = DocumentedInstruments();

        Assert.Multiple(() =>
        {
            Assert.That(published.Select(i => i.Meter).Distinct(), Is.EquivalentTo(new[] { CoreDiagnostics.MeterName, RecoverableStreamsDiagnostics.MeterName }), "both meters publish");
            var shared = published.GroupBy(i => i.Name).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
            Assert.That(shared, Is.Empty, "instrument names used by more than one instrument (core and hosting counting one fact twice)");
            Assert.That(published.Select(i => i.Name), Is.EquivalentTo(CoreMetrics.InstrumentNames.Concat(HostingMetrics.InstrumentNames)), "the lists the meters keep");
            foreach (var (name, meter) in published)
            {
                Assert.That(documented, Does.ContainKey(name), $"{name} is missing from docs/HOSTING.md's instrument table");
                if (documented.TryGetValue(name, out var documentedMeter))
                {
                    Assert.That(documentedMeter, Is.EqualTo(meter), $"docs/HOSTING.md names the wrong meter for {name}");
                }
            }

            Assert.That(documented.Keys.Except(published.Select(i => i.Name)), Is.Empty, "documented instruments that no meter publishes");
            var readme = File.ReadAllText(Path.Combine(CompiledSnippets.Root, "README.md"));
            foreach (var (name, _) in published)
            {
                Assert.That(readme, Does.Contain($"`{name}`"), $"README's Observability section does not name {name}");
            }
        });
    }

    /// <summary>What a listener sees when a client's and a host's meters are created: names and meters, duplicates kept.</summary>
    private static List<(string Name, string Meter)> PublishedInstruments()
    {
        var published = new List<(string Name, string Meter)>();
        using var listener = new MeterListener();
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        listener.InstrumentPublished = (instrument, _) =>
        {
            // Only the meters these two objects create, from this test's own factory (other tests may run in parallel).
            if (instrument.Meter.Scope == factory)
            {
                lock (published)
                {
                    published.Add((instrument.Name, instrument.Meter.Name));
                }
            }
        };
        listener.Start();
        using var core = new CoreMetrics(factory);
        using var hosting = new HostingMetrics(services);
        return published;
    }

    private static Dictionary<string, string> DocumentedInstruments()
    {
        var doc = File.ReadAllText(Path.Combine(CompiledSnippets.Root, "docs", "HOSTING.md"));
        var begin = doc.IndexOf("<!-- instruments:begin -->", StringComparison.Ordinal);
        var end = doc.IndexOf("<!-- instruments:end -->", StringComparison.Ordinal);
        Assert.That(begin, Is.GreaterThanOrEqualTo(0).And.LessThan(end), "docs/HOSTING.md marks its instrument table");
        var rows = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (Match row in TableRow().Matches(doc[begin..end]))
        {
            Assert.That(rows.TryAdd(row.Groups["name"].Value, row.Groups["meter"].Value), Is.True, $"{row.Groups["name"].Value} is documented twice");
        }

        return rows;
    }

    [GeneratedRegex(@"^\| `(?<name>[a-z_.]+)` \| `(?<meter>[A-Za-z.]+)` \|", RegexOptions.Multiline)]
    private static partial Regex TableRow();
}
