using System.Diagnostics;
using System.Text.Json;
using RecoverableStreams.IntegrationTests.Infrastructure;

namespace RecoverableStreams.IntegrationTests.Packaging;

/// <summary>
/// <c>rstreams</c> as an operator gets it: the packed RecoverableStreams.Cli installed with <c>dotnet tool install
/// --tool-path</c>, offline (a NuGet.config with <c>&lt;clear/&gt;</c> and the local pack folder only, a package cache of
/// its own), then run as a process against the test Redis: its exit codes and JSON. Uses the packs of eng/pack.sh when
/// <c>RECOVERABLESTREAMS_PACKAGES</c> is exported; otherwise packs the tool itself.
/// </summary>
[NonParallelizable]
public sealed class PackedToolTests
{
    private static readonly TimeSpan ToolLimit = TimeSpan.FromMinutes(10);

    [Test]
    public async Task The_packed_tool_installs_offline_and_runs_with_its_exit_codes()
    {
        var work = Directory.CreateTempSubdirectory("rstreams-tool-");
        try
        {
            var packages = await PackagesAsync(work.FullName);
            var nupkg = Directory.EnumerateFiles(packages, "RecoverableStreams.Cli.*.nupkg").Select(Path.GetFileName).Single(f => char.IsDigit(f!["RecoverableStreams.Cli.".Length]))!;
            var version = nupkg["RecoverableStreams.Cli.".Length..^".nupkg".Length];
            var config = Path.Combine(work.FullName, "NuGet.config");
            await File.WriteAllTextAsync(config, $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <config>
                    <add key="globalPackagesFolder" value="{Path.Combine(work.FullName, "nuget-packages")}" />
                  </config>
                  <packageSources>
                    <clear />
                    <add key="recoverable-streams-local" value="{packages}" />
                  </packageSources>
                </configuration>
                """);
            var tools = Path.Combine(work.FullName, "tools");
            var install = await RunAsync("dotnet", ["tool", "install", "RecoverableStreams.Cli", "--version", version, "--tool-path", tools, "--add-source", packages, "--configfile", config], work.FullName, null);
            Assert.That(install.ExitCode, Is.Zero, "dotnet tool install failed:\n" + install.Output);
            var rstreams = Path.Combine(tools, "rstreams");
            Assert.That(File.Exists(rstreams), Is.True, "the tool's command is rstreams");

            var service = TestOptions.NewServiceName();
            var environment = new Dictionary<string, string> { ["RSTREAMS_REDIS"] = SharedRedis.Server.EndPoint, ["RSTREAMS_SERVICE"] = service };

            var help = await RunAsync(rstreams, ["--help"], work.FullName, environment);
            Assert.That(help.ExitCode, Is.Zero, help.Output);
            Assert.That(help.Output, Does.Contain("release"));

            var status = await RunAsync(rstreams, ["status", "--output", "json"], work.FullName, environment);
            Assert.That(status.ExitCode, Is.Zero, status.Output);
            using (var json = JsonDocument.Parse(status.Output))
            {
                Assert.That(json.RootElement.GetProperty("serviceName").GetString(), Is.EqualTo(service));
            }

            Assert.That((await RunAsync(rstreams, ["stauts"], work.FullName, environment)).ExitCode, Is.EqualTo(2), "usage error");
            Assert.That((await RunAsync(rstreams, ["status", "--redis", "127.0.0.1:1,connectTimeout=500"], work.FullName, environment)).ExitCode, Is.EqualTo(3), "cannot connect");
            Assert.That((await RunAsync(rstreams, ["dlq", "purge", "--all"], work.FullName, environment)).ExitCode, Is.EqualTo(4), "no terminal and no --yes: refused");
            Assert.That((await RunAsync(rstreams, ["release", "nothing-owns-this", "--yes"], work.FullName, environment)).ExitCode, Is.EqualTo(1), "not found");
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private static async Task<string> PackagesAsync(string work)
    {
        var exported = Environment.GetEnvironmentVariable("RECOVERABLESTREAMS_PACKAGES");
        if (!string.IsNullOrEmpty(exported) && Directory.Exists(exported) && Directory.EnumerateFiles(exported, "RecoverableStreams.Cli.*.nupkg").Any())
        {
            return Path.GetFullPath(exported);
        }

        // The tool package carries its dependencies inside it: packing it alone is enough to install it.
        var packages = Path.Combine(work, "packages");
        var root = RepositoryRoot();
        var pack = await RunAsync("dotnet", ["pack", Path.Combine(root, "src", "RecoverableStreams.Cli", "RecoverableStreams.Cli.csproj"), "-c", "Release", "-o", packages, "-nologo", "-v:q"], root, null);
        Assert.That(pack.ExitCode, Is.Zero, "dotnet pack failed:\n" + pack.Output);
        return packages;
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string fileName, IEnumerable<string> arguments, string directory, IReadOnlyDictionary<string, string>? environment)
    {
        var info = new ProcessStartInfo(fileName) { WorkingDirectory = directory, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info)!;
        process.StandardInput.Close(); // no terminal: the tool must not wait for an answer
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(ToolLimit);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await output + await error);
    }

    private static string RepositoryRoot()
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
