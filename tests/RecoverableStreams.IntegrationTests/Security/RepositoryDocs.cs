namespace RecoverableStreams.IntegrationTests.Security;

/// <summary>Reads the repository's documentation, so tests check exactly what the docs tell users to run.</summary>
internal static class RepositoryDocs
{
    public static string Read(string relativePath)
    {
        for (var directory = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, relativePath);
            if (File.Exists(candidate))
            {
                return File.ReadAllText(candidate);
            }
        }

        throw new FileNotFoundException($"{relativePath} not found above {TestContext.CurrentContext.TestDirectory}.");
    }

    /// <summary>The one line of docs/SECURITY.md that starts with <paramref name="prefix"/>.</summary>
    public static string SecurityLine(string prefix)
    {
        var lines = Read("docs/SECURITY.md").Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith(prefix, StringComparison.Ordinal)).ToArray();
        Assert.That(lines, Has.Length.EqualTo(1), $"docs/SECURITY.md has exactly one line starting with '{prefix}'");
        return lines[0];
    }
}
