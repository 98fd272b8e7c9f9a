using System.Diagnostics;
using System.Text;

namespace RecoverableStreams.IntegrationTests.Demo;

/// <summary>
/// Runs the demo end to end as a user would (eng/demo.sh): the built demo, which starts three worker processes, kills
/// one, stops one, and checks every stream's result against what it sent. The demo and the worker are built with the
/// solution (same configuration as this assembly).
/// </summary>
[TestFixture]
public sealed class DemoTests
{
    private const int Streams = 40;

    [Test]
    public async Task Demo_completes_every_stream_with_correct_sums_through_a_crash_and_a_graceful_stop()
    {
        var demo = BuiltSample("RecoverableStreams.Demo");
        var run = await RunAsync(demo, ["--streams", Streams.ToString(), "--timeout", "90", "--redis", SharedRedis.Server.ConnectionString], TimeSpan.FromSeconds(150));

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(0), run.Output);
            Assert.That(run.Output, Does.Contain("RESULT: PASS"));
            Assert.That(run.Output, Does.Contain($"streams completed:   {Streams}/{Streams} (LBS entries left 0, pending 0, dead letters 0)"));
            Assert.That(run.Output, Does.Contain($"sums verified:       {Streams}/{Streams} correct"));
            Assert.That(run.Output, Does.Match(@"crash failover:\s+demo-worker-\d killed \(SIGKILL\) owning \d+ streams: first claimed after \d+ ms, all re-owned after \d+ ms"));
            Assert.That(run.Output, Does.Match(@"graceful handover:\s+demo-worker-\d stopped \(SIGTERM\) owning \d+ streams: all re-owned after \d+ ms, process exited after \d+ ms with code 0"));
        });
    }

    [Test]
    public async Task Demo_fails_with_a_usage_message_on_an_unknown_option()
    {
        var run = await RunAsync(BuiltSample("RecoverableStreams.Demo"), ["--no-such-option", "1"], TimeSpan.FromSeconds(60));

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Output, Does.Contain("Unknown option --no-such-option"));
            Assert.That(run.Output, Does.Contain("Usage: RecoverableStreams.Demo"));
        });
    }

    /// <summary>samples/&lt;project&gt;/bin/&lt;Configuration&gt;/&lt;tfm&gt;/&lt;project&gt;.dll, as this assembly was built.</summary>
    internal static string BuiltSample(string project)
    {
        var here = new DirectoryInfo(TestContext.CurrentContext.TestDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var tfm = here.Name;
        var configuration = here.Parent!.Name;
        var root = here;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "RecoverableStreams.Hosting.sln")))
        {
            root = root.Parent;
        }

        Assert.That(root, Is.Not.Null, $"No RecoverableStreams.Hosting.sln above {here.FullName}.");
        var dll = Path.Combine(root!.FullName, "samples", project, "bin", configuration, tfm, project + ".dll");
        Assert.That(File.Exists(dll), Is.True, $"{dll} is not built: build the solution with -c {configuration}.");
        return dll;
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string dll, string[] arguments, TimeSpan limit)
    {
        var info = new ProcessStartInfo(DotnetHost())
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.ArgumentList.Add(dll);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var output = new StringBuilder();
        using var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var deadline = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            // The demo has its own timeout; this one only guards against a hang of the demo itself.
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        process.WaitForExit(); // flushes the redirected output
        TestContext.Out.WriteLine(output.ToString());
        lock (output)
        {
            return (process.ExitCode, output.ToString());
        }
    }

    private static string DotnetHost()
    {
        var fromSdk = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(fromSdk) && File.Exists(fromSdk))
        {
            return fromSdk;
        }

        var self = Environment.ProcessPath;
        return self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
    }
}
