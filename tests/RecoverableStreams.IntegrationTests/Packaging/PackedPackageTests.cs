using System.Diagnostics;
using System.Text;
using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Packaging;

/// <summary>
/// The packages as a user gets them: a fresh worker project outside the solution (its own folder, NuGet.config and
/// package cache) installs the packed RecoverableStreams.Hosting with <c>dotnet add package</c>, runs against the test
/// Redis, and completes a published stream. Uses the packs of eng/pack.sh when eng/test.sh exported
/// <c>RECOVERABLESTREAMS_PACKAGES</c>; otherwise packs them itself.
/// </summary>
[NonParallelizable]
public sealed class PackedPackageTests
{
    private static readonly TimeSpan ToolLimit = TimeSpan.FromMinutes(10);

    [Test]
    public async Task A_fresh_worker_project_installs_the_packed_hosting_package_and_completes_a_published_stream()
    {
        var work = Directory.CreateTempSubdirectory("recoverable-streams-smoke-");
        try
        {
            var packages = await PackagesAsync(work.FullName);
            var version = PackedVersion(packages, "RecoverableStreams.Hosting");
            var cache = Path.Combine(work.FullName, "nuget-packages");
            // Offline: <clear/> drops the machine's feeds (nuget.org); the packs come from the local folder, their
            // dependencies and the worker template's from the packages this machine restored when it built the
            // solution (its global packages folder, laid out as a folder feed).
            await File.WriteAllTextAsync(Path.Combine(work.FullName, "NuGet.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <config>
                    <!-- A package cache of its own: never a same-version package restored earlier on this machine. -->
                    <add key="globalPackagesFolder" value="{cache}" />
                  </config>
                  <packageSources>
                    <clear />
                    <add key="recoverable-streams-local" value="{packages}" />
                    <add key="machine-packages" value="{MachinePackagesFolder()}" />
                  </packageSources>
                </configuration>
                """);

            var app = Path.Combine(work.FullName, "SmokeWorker");
            await RunToolAsync(work.FullName, "new", "worker", "--name", "SmokeWorker", "--output", app);
            File.Delete(Path.Combine(app, "Worker.cs"));
            await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), WorkerProgram);
            await RunToolAsync(app, "add", "package", "RecoverableStreams.Hosting", "--version", version);
            await RunToolAsync(app, "build", "-c", "Release", "-nologo");
            Assert.Multiple(() =>
            {
                Assert.That(File.ReadAllText(Path.Combine(app, "SmokeWorker.csproj")), Does.Contain($"Include=\"RecoverableStreams.Hosting\" Version=\"{version}\""));
                Assert.That(Directory.Exists(Path.Combine(cache, "recoverablestreams.hosting", version)), Is.True, "the package came from the local pack folder");
                Assert.That(Directory.Exists(Path.Combine(cache, "recoverablestreams", version)), Is.True, "and brought the core package with it");
            });

            var service = TestOptions.NewServiceName();
            var dataStream = service + ":order-1";
            await using var redis = await SharedRedis.Server.ConnectAsync();
            var db = redis.GetDatabase();
            await db.StreamAddAsync(dataStream, "amount", 17);
            await db.StreamAddAsync(dataStream, "amount", 25);
            await db.StreamAddAsync(dataStream, "end", 1);

            using var worker = StartWorker(Path.Combine(app, "bin", "Release", "net10.0", "SmokeWorker.dll"), new Dictionary<string, string>
            {
                ["ConnectionStrings__Redis"] = SharedRedis.Server.ConnectionString,
                ["RecoverableStreams__ServiceName"] = service,
                ["DOTNET_ENVIRONMENT"] = "Production",
            });
            try
            {
                var lbs = service + "-input";
                await new StreamPublisher(redis, new RecoverableStreamOptions { ServiceName = service }).AddStreamAsync(dataStream);
                await Eventually.AssertAsync(() => worker.Output.Contains($"SMOKE completed {dataStream} after 2 entries", StringComparison.Ordinal),
                    TimeSpan.FromSeconds(120), "the packed worker's handler read the stream to its end marker. Output:\n" + worker.Output);
                await Eventually.AssertAsync(async () => await db.StreamLengthAsync(lbs) == 0, TimeSpan.FromSeconds(30), "and the stream was completed (its LBS entry is gone)");
            }
            finally
            {
                await worker.StopAsync(TimeSpan.FromSeconds(60));
            }

            Assert.That(worker.ExitCode, Is.Zero, "SIGTERM stopped the worker gracefully. Output:\n" + worker.Output);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private const string WorkerProgram = """
        using RecoverableStreams.Hosting;

        var builder = Host.CreateApplicationBuilder(args);
        builder.Services.AddRecoverableRedisStreams().AddHandler<CompletingHandler>();
        await builder.Build().RunAsync();

        public sealed class CompletingHandler : IStreamWorkHandler
        {
            public async Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken)
            {
                var count = 0;
                await foreach (var entry in context.ReadEntriesAsync(cancellationToken: cancellationToken))
                {
                    if (!entry["end"].IsNull)
                    {
                        Console.WriteLine($"SMOKE completed {context.DataStreamName} after {count} entries");
                        return;
                    }

                    count++;
                    await context.CheckpointAsync(entry.Id!, cancellationToken: cancellationToken);
                }
            }
        }
        """;

    private static async Task<string> PackagesAsync(string work)
    {
        var exported = Environment.GetEnvironmentVariable("RECOVERABLESTREAMS_PACKAGES");
        if (!string.IsNullOrEmpty(exported) && Directory.Exists(exported) && Directory.EnumerateFiles(exported, "RecoverableStreams.Hosting.*.nupkg").Any())
        {
            return Path.GetFullPath(exported);
        }

        var packages = Path.Combine(work, "packages");
        var (exitCode, output) = await RunAsync("bash", [Path.Combine(RepositoryRoot(), "eng", "pack.sh"), packages], RepositoryRoot(), ToolLimit);
        Assert.That(exitCode, Is.Zero, "eng/pack.sh failed:\n" + output);
        return packages;
    }

    private static string PackedVersion(string packages, string id)
    {
        var nupkg = Directory.EnumerateFiles(packages, id + ".*.nupkg")
            .Select(Path.GetFileName)
            .Single(f => char.IsDigit(f![id.Length + 1]))!;
        return nupkg[(id.Length + 1)..^".nupkg".Length];
    }

    /// <summary>The machine's NuGet global packages folder (<c>NUGET_PACKAGES</c>, else <c>~/.nuget/packages</c>).</summary>
    private static string MachinePackagesFolder() =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } folder
            ? folder
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    private static async Task RunToolAsync(string directory, params string[] arguments)
    {
        var (exitCode, output) = await RunAsync(DotnetHost(), arguments, directory, ToolLimit);
        Assert.That(exitCode, Is.Zero, $"dotnet {string.Join(' ', arguments)} failed:\n{output}");
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string fileName, IEnumerable<string> arguments, string directory, TimeSpan limit)
    {
        using var process = new OwnProcess(fileName, arguments, directory, environment: null);
        await process.WaitAsync(limit);
        return (process.ExitCode, process.Output);
    }

    private static OwnProcess StartWorker(string dll, IReadOnlyDictionary<string, string> environment) =>
        new(DotnetHost(), [dll], Path.GetDirectoryName(dll)!, environment);

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

    private static string DotnetHost()
    {
        var fromSdk = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        return !string.IsNullOrEmpty(fromSdk) && File.Exists(fromSdk) ? fromSdk : "dotnet";
    }

    /// <summary>A process this test starts, with its output collected; stopped by its own PID.</summary>
    private sealed class OwnProcess : IDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();

        public OwnProcess(string fileName, IEnumerable<string> arguments, string directory, IReadOnlyDictionary<string, string>? environment)
        {
            var info = new ProcessStartInfo(fileName)
            {
                WorkingDirectory = directory,
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var argument in arguments)
            {
                info.ArgumentList.Add(argument);
            }

            // The test host runs under `dotnet test`: its MSBuild variables would steer the nested SDK commands.
            foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || k == "MSBUILD_EXE_PATH").ToList())
            {
                info.Environment.Remove(key);
            }

            info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            info.Environment["DOTNET_NOLOGO"] = "1";
            foreach (var (key, value) in environment ?? new Dictionary<string, string>())
            {
                info.Environment[key] = value;
            }

            _process = Process.Start(info)!;
            _process.OutputDataReceived += (_, e) => Append(e.Data);
            _process.ErrorDataReceived += (_, e) => Append(e.Data);
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public int ExitCode => _process.ExitCode;

        public string Output
        {
            get
            {
                lock (_output)
                {
                    return _output.ToString();
                }
            }
        }

        public async Task WaitAsync(TimeSpan limit)
        {
            using var deadline = new CancellationTokenSource(limit);
            try
            {
                await _process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
                Assert.Fail($"{_process.StartInfo.FileName} {string.Join(' ', _process.StartInfo.ArgumentList)} did not finish within {limit}. Output:\n{Output}");
            }

            _process.WaitForExit();
        }

        /// <summary>SIGTERM to this process's PID (a graceful host stop); SIGKILL past <paramref name="limit"/>.</summary>
        public async Task StopAsync(TimeSpan limit)
        {
            if (_process.HasExited)
            {
                return;
            }

            using (var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!)
            {
                await kill.WaitForExitAsync();
            }

            await WaitAsync(limit);
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit();
            }

            TestContext.Out.WriteLine(Output);
            _process.Dispose();
        }

        private void Append(string? line)
        {
            if (line is not null)
            {
                lock (_output)
                {
                    _output.AppendLine(line);
                }
            }
        }
    }
}
