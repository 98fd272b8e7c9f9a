using System.Text.Json;

namespace RecoverableStreams.Tests;

/// <summary>
/// Every package under src/ has a README.md that stands on its own on the package's page: its name as the title, the
/// install line, and C# that compiles (each block is a snippet region of samples/RecoverableStreams.Samples.Snippets).
/// </summary>
public sealed class PackageReadmeTests
{
    private static readonly string Root = CompiledSnippets.Root;

    private static IEnumerable<TestCaseData> Packages() =>
        Directory.EnumerateFiles(Path.Combine(Root, "src"), "*.csproj", SearchOption.AllDirectories)
            .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(p => new TestCaseData(Path.GetFileNameWithoutExtension(p), Path.GetDirectoryName(p)!).SetArgDisplayNames(Path.GetFileNameWithoutExtension(p)));

    [TestCaseSource(nameof(Packages))]
    public void The_readme_names_the_package_says_how_to_install_it_and_its_code_compiles(string package, string directory)
    {
        var path = Path.Combine(directory, "README.md");
        Assert.That(File.Exists(path), Is.True, $"{package} needs a README.md: it is the package's page (PackageReadmeFile)");
        var readme = File.ReadAllText(path).Replace("\r", "", StringComparison.Ordinal);
        var snippets = CompiledSnippets.Regions();
        var blocks = CompiledSnippets.FencedBlock().Matches(readme).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(readme, Does.StartWith($"# {package}\n"), "the title is the package id");
            if (IsTool(directory, package))
            {
                // A dotnet tool is installed and used from the shell: its example is a shell block.
                Assert.That(readme, Does.Contain($"dotnet tool install --global {package}\n"), "the install line");
                Assert.That(blocks.Where(b => b.Groups["lang"].Value == "bash"), Is.Not.Empty, "a usage example");
            }
            else
            {
                Assert.That(readme, Does.Contain($"dotnet add package {package}\n"), "the install line");
                Assert.That(blocks.Where(b => b.Groups["lang"].Value == "csharp"), Is.Not.Empty, "a usage example");
            }

            foreach (var block in blocks.Where(b => b.Groups["lang"].Value == "csharp"))
            {
                Assert.That(snippets, Does.Contain(CompiledSnippets.Normalize(block.Groups["code"].Value)), "This block is not a compiled snippet:\n" + block.Groups["code"].Value);
            }

            foreach (var block in blocks.Where(b => b.Groups["lang"].Value == "json"))
            {
                Assert.That(() => JsonDocument.Parse(block.Groups["code"].Value).Dispose(), Throws.Nothing, "JSON block:\n" + block.Groups["code"].Value);
            }

            Assert.That(readme, Does.Not.Contain("](docs/").And.Not.Contain("](../"), "no relative links: they break on the package's page");
        });
    }

    [Test]
    public void The_repository_has_an_MIT_license_file_matching_the_package_license_expression()
    {
        var license = File.ReadAllText(Path.Combine(Root, "LICENSE"));
        var props = File.ReadAllText(Path.Combine(Root, "src", "Directory.Build.props"));
        Assert.Multiple(() =>
        {
            Assert.That(license, Does.StartWith("MIT License"));
            Assert.That(props, Does.Contain("<PackageLicenseExpression>MIT</PackageLicenseExpression>"));
        });
    }

    private static bool IsTool(string directory, string package) =>
        File.ReadAllText(Path.Combine(directory, package + ".csproj")).Contains("<PackAsTool>true</PackAsTool>", StringComparison.Ordinal);
}
