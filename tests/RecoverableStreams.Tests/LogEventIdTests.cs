using System.Reflection;
using Microsoft.Extensions.Logging;

namespace RecoverableStreams.Tests;

/// <summary>Log event ids are a contract (docs/HOSTING.md, docs/OPERATIONS.md): one id, one event, across every assembly.</summary>
public sealed class LogEventIdTests
{
    [Test]
    public void Every_LoggerMessage_event_id_is_used_once_across_all_src_assemblies()
    {
        var events = SrcAssemblies()
            .SelectMany(a => a.GetTypes())
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(m => (Method: m, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(x => x.Attribute is not null)
            .Select(x => (x.Attribute!.EventId, Name: $"{x.Method.DeclaringType!.Assembly.GetName().Name}: {x.Method.DeclaringType.FullName}.{x.Method.Name}"))
            .ToArray();

        Assert.That(events, Has.Length.GreaterThan(40), "the reflection finds the libraries' log messages");
        var duplicates = events.GroupBy(e => e.EventId).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(e => e.Name))}").ToArray();
        Assert.That(duplicates, Is.Empty, "event ids used more than once");
    }

    /// <summary>The assembly of every project under src/, each of which this test project references.</summary>
    private static IEnumerable<Assembly> SrcAssemblies()
    {
        var src = Path.Combine(CompiledSnippets.Root, "src");
        var names = Directory.GetDirectories(src).Select(Path.GetFileName).Where(n => File.Exists(Path.Combine(src, n!, n + ".csproj"))).ToArray();
        Assert.That(names, Is.Not.Empty);
        foreach (var name in names)
        {
            Assembly assembly;
            try
            {
                assembly = Assembly.Load(name!);
            }
            catch (FileNotFoundException)
            {
                Assert.Fail($"src/{name} is not referenced by RecoverableStreams.Tests: add a ProjectReference so its log event ids are checked.");
                throw;
            }

            yield return assembly;
        }
    }
}
