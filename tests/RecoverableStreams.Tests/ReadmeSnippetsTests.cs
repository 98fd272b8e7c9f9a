namespace RecoverableStreams.Tests;

/// <summary>
/// Keeps README.md true: every C# block in it must be a snippet region of a compiled file in
/// samples/RecoverableStreams.Samples.Snippets (between "// snippet: name" and "// end snippet"), and every JSON block
/// must be a JSON file of that project.
/// </summary>
public sealed class ReadmeSnippetsTests
{
    private static readonly string Root = CompiledSnippets.Root;

    [Test]
    public void Every_csharp_block_in_the_readme_is_compiled_in_the_snippets_project()
    {
        var snippets = CompiledSnippets.Regions();

        var blocks = CodeBlocks("csharp");
        Assert.That(blocks, Is.Not.Empty, "README.md should show C# usage");
        foreach (var block in blocks)
        {
            Assert.That(snippets, Does.Contain(CompiledSnippets.Normalize(block)), "This README block is not a compiled snippet:\n" + block);
        }
    }

    [Test]
    public void Every_json_block_in_the_readme_is_a_file_of_the_snippets_project()
    {
        var files = Directory.EnumerateFiles(Path.Combine(Root, "samples", "RecoverableStreams.Samples.Snippets"), "*.json")
            .Select(f => CompiledSnippets.Normalize(File.ReadAllText(f)))
            .ToHashSet();
        foreach (var block in CodeBlocks("json"))
        {
            Assert.That(files, Does.Contain(CompiledSnippets.Normalize(block)), "This README block is not a JSON file of the snippets project:\n" + block);
        }
    }

    private static List<string> CodeBlocks(string language)
    {
        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        return CompiledSnippets.FencedBlock().Matches(readme)
            .Where(m => m.Groups["lang"].Value == language)
            .Select(m => m.Groups["code"].Value)
            .ToList();
    }
}
