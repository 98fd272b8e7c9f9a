using System.Collections.Concurrent;
using System.Reflection;

namespace RecoverableStreams.Scripts;

/// <summary>The Lua scripts embedded in this assembly (<c>Scripts/*.lua</c>), each read once.</summary>
internal static class ScriptSource
{
    private static readonly ConcurrentDictionary<string, string> Cache = new(StringComparer.Ordinal);

    public static string Get(string name) => Cache.GetOrAdd(name, Load);

    private static string Load(string name)
    {
        var resource = "RecoverableStreams.Scripts." + name + ".lua";
        using var stream = typeof(ScriptSource).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"Embedded script '{resource}' is missing from {typeof(ScriptSource).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Every script name, for tests that check each one loads and runs.</summary>
    public static IReadOnlyList<string> Names { get; } = typeof(ScriptSource).Assembly
        .GetManifestResourceNames()
        .Where(n => n.StartsWith("RecoverableStreams.Scripts.", StringComparison.Ordinal) && n.EndsWith(".lua", StringComparison.Ordinal))
        .Select(n => n["RecoverableStreams.Scripts.".Length..^".lua".Length])
        .ToArray();
}
