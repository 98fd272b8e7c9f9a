using System.Collections.Concurrent;
using System.Diagnostics;

namespace RecoverableStreams.IntegrationTests.Infrastructure;

/// <summary>
/// A consumer in its own OS process (tests/RecoverableStreams.TestConsumerProcess), so a test can pause it for real
/// (SIGSTOP/SIGCONT) or kill it. Its report lines are collected as they come; it is killed by its PID on dispose.
/// </summary>
public sealed class ConsumerProcess : IAsyncDisposable
{
    private const string ProjectName = "RecoverableStreams.TestConsumerProcess";
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly ConcurrentQueue<string> _errors = new();

    private ConsumerProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                _lines.Enqueue(e.Data);
            }
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                _errors.Enqueue(e.Data);
            }
        };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public IReadOnlyList<string> Lines => _lines.ToArray();

    /// <summary>Everything the process said, for failure messages.</summary>
    public string Transcript => string.Join(Environment.NewLine, _lines.Concat(_errors.Select(e => "stderr: " + e)));

    /// <summary>Starts the built worker with <c>dotnet &lt;dll&gt; args</c>.</summary>
    public static ConsumerProcess Start(params string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(DllPath());
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return new ConsumerProcess(Process.Start(info) ?? throw new InvalidOperationException("The consumer process did not start."));
    }

    /// <summary>Waits for a report line that matches, and returns it.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout, string what)
    {
        string? found = null;
        var seen = await Eventually.TrueAsync(() => (found = _lines.FirstOrDefault(match)) is not null || _process.HasExited, timeout);
        Assert.That(found, Is.Not.Null, $"Within {timeout.TotalSeconds:0} s the consumer process should report {what}" +
            (seen && _process.HasExited ? $" (it exited with {_process.ExitCode})" : "") + $". Transcript:{Environment.NewLine}{Transcript}");
        return found!;
    }

    /// <summary>Sends a signal by PID (<c>STOP</c>, <c>CONT</c>) and waits until it is delivered.</summary>
    public async Task SignalAsync(string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })
            ?? throw new InvalidOperationException("kill did not start.");
        await kill.WaitForExitAsync();
        Assert.That(kill.ExitCode, Is.Zero, $"kill -{signal} {_process.Id}");
    }

    public async Task SendAsync(string command) => await _process.StandardInput.WriteLineAsync(command);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            // SIGKILL by PID works on a stopped process too.
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private static string DllPath()
    {
        // The test assembly runs from tests/<this project>/bin/<Configuration>/<tfm>/; the worker is built beside it by
        // the solution (and by this project's build-only reference).
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var tfm = here.Name;
        var configuration = here.Parent!.Name;
        var tests = here.Parent.Parent!.Parent!.Parent!.FullName;
        var path = Path.Combine(tests, ProjectName, "bin", configuration, tfm, ProjectName + ".dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"Build the solution first: {path} is missing.", path);
    }
}
