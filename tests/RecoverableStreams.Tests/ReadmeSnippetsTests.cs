using System.Text.RegularExpressions;

namespace RecoverableStreams.Tests;

/// <summary>
/// Keeps README.md true: every C# block in it must be a snippet region of a compiled file in
/// samples/RecoverableStreams.Samples.Snippets (between "// snippet: name" and "// end snippet"), and every JSON block
/// must be a JSON file of that project.
/// </summary>
public sealed partial class ReadmeSnippetsTests
{
    private static readonly string Root = FindRepositoryRoot();

    [Test]
    public void Every_csharp_block_in_the_readme_is_compiled_in_the_snippets_project()
    {
        var snippets = Directory.EnumerateFiles(Path.Combine(Root, "samples", "RecoverableStreams.Samples.Snippets"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => SnippetRegions(File.ReadAllText(f)))
            .Select(Normalize)
            .ToHashSet();

        var blocks = CodeBlocks("csharp");
        Assert.That(blocks, Is.Not.Empty, "README.md should show C# usage");
        foreach (var block in blocks)
        {
            Assert.That(snippets, Does.Contain(Normalize(block)), "This README block is not a compiled snippet:\n" + block);
        }
    }

    [Test]
    public void Every_json_block_in_the_readme_is_a_file_of_the_snippets_project()
    {
        var files = Directory.EnumerateFiles(Path.Combine(Root, "samples", "RecoverableStreams.Samples.Snippets"), "*.json")
            .Select(f => Normalize(File.ReadAllText(f)))
            .ToHashSet();
        foreach (var block in CodeBlocks("json"))
        {
            Assert.That(files, Does.Contain(Normalize(block)), "This README block is not a JSON file of the snippets project:\n" + block);
        }
    }

    private static List<string> CodeBlocks(string language)
    {
        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        return FencedBlock().Matches(readme)
            .Where(m => m.Groups["lang"].Value == language)
            .Select(m => m.Groups["code"].Value)
            .ToList();
    }

    private static IEnumerable<string> SnippetRegions(string source)
    {
        foreach (Match match in SnippetRegion().Matches(source))
        {
            yield return match.Groups["code"].Value;
        }
    }

    /// <summary>Compares text without its indentation and blank-line differences.</summary>
    private static string Normalize(string code) =>
        string.Join("\n", code.Replace("\r", "", StringComparison.Ordinal).Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0));

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

    [GeneratedRegex(@"```(?<lang>\w+)\n(?<code>.*?)```", RegexOptions.Singleline)]
    private static partial Regex FencedBlock();

    [GeneratedRegex(@"// snippet: [\w-]+\n(?<code>.*?)// end snippet", RegexOptions.Singleline)]
    private static partial Regex SnippetRegion();
}
