using System.Text.RegularExpressions;

namespace RecoverableStreams.Tests;

/// <summary>
/// What the README tests share: the repository root, the code regions of samples/RecoverableStreams.Samples.Snippets
/// (the compiled form of every documented C# block), fenced blocks, and a comparison that ignores indentation.
/// </summary>
internal static partial class CompiledSnippets
{
    public static readonly string Root = FindRepositoryRoot();

    /// <summary>Every "// snippet: name ... // end snippet" region of the snippets project, normalized.</summary>
    public static HashSet<string> Regions() =>
        Directory.EnumerateFiles(Path.Combine(Root, "samples", "RecoverableStreams.Samples.Snippets"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => SnippetRegion().Matches(File.ReadAllText(f)).Select(m => Normalize(m.Groups["code"].Value)))
            .ToHashSet();

    /// <summary>Compares text without its indentation and blank-line differences.</summary>
    public static string Normalize(string code) =>
        string.Join("\n", code.Replace("\r", "", StringComparison.Ordinal).Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0));

    [GeneratedRegex(@"```(?<lang>\w+)\n(?<code>.*?)```", RegexOptions.Singleline)]
    public static partial Regex FencedBlock();

    [GeneratedRegex(@"// snippet: [\w-]+\n(?<code>.*?)// end snippet", RegexOptions.Singleline)]
    private static partial Regex SnippetRegion();

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "RecoverableStreams.Hosting.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("RecoverableStreams.Hosting.sln not found above " + AppContext.BaseDirectory);
    }
}
