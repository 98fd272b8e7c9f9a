using System.Diagnostics;
using System.Text;

namespace RecoverableStreams.IntegrationTests.Samples;

/// <summary>
/// A built sample (samples/&lt;project&gt;/bin/&lt;Configuration&gt;/&lt;tfm&gt;/&lt;project&gt;.dll, the same
/// configuration as this assembly) running as its own process under <c>dotnet</c>. Stopped by its PID on dispose.
/// </summary>
public sealed class SampleProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private SampleProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
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

    public static SampleProcess Start(string project, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(DotnetHost())
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.ArgumentList.Add(BuiltDll(project));
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        return new SampleProcess(Process.Start(info)!);
    }

    /// <summary>Waits for the process to exit; past <paramref name="limit"/> kills it and fails with its output.</summary>
    public async Task WaitForExitAsync(TimeSpan limit)
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
            Assert.Fail($"The process did not exit within {limit}. Output:\n{Output}");
        }

        _process.WaitForExit(); // drains the redirected output
    }

    /// <summary>A crash: SIGKILL.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        TestContext.Out.WriteLine(Output);
        _process.Dispose();
    }

    internal static string BuiltDll(string project)
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
