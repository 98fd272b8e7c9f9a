using System.Diagnostics;
using System.Runtime.InteropServices;

namespace RecoverableStreams.Demo;

/// <summary>
/// One worker pod, played by a separate OS process: <c>dotnet RecoverableStreams.Samples.Worker.dll</c> with its own
/// <c>POD_NAME</c>, configured through environment variables exactly as a Deployment configures it.
/// </summary>
internal sealed partial class WorkerProcess : IAsyncDisposable
{
    private const int SigTerm = 15;
    private readonly Process _process;
    private readonly TextWriter _log;

    private WorkerProcess(string podName, Process process, TextWriter log, string logPath)
    {
        PodName = podName;
        _process = process;
        _log = log;
        LogPath = logPath;
    }

    public string PodName { get; }

    /// <summary>The consumer id the core derives from <c>POD_NAME</c>.</summary>
    public string ConsumerId => "redis-consumer-" + PodName;

    public int Pid => _process.Id;

    public string LogPath { get; }

    public bool HasExited => _process.HasExited;

    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    public static WorkerProcess Start(string workerDll, string podName, IReadOnlyDictionary<string, string> environment, string logDirectory)
    {
        var info = new ProcessStartInfo(DotnetHost())
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(workerDll)!,
        };
        info.ArgumentList.Add(workerDll);
        info.Environment["POD_NAME"] = podName;
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        var logPath = Path.Combine(logDirectory, podName + ".log");
        var log = TextWriter.Synchronized(new StreamWriter(logPath) { AutoFlush = true });
        var process = Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start the worker.");
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new WorkerProcess(podName, process, log, logPath);
    }

    /// <summary>A crash: SIGKILL, no chance to release anything.</summary>
    public void Kill() => _process.Kill();

    /// <summary>What Kubernetes does to a pod it stops: SIGTERM, so the host shuts down and releases its streams.</summary>
    public void Terminate()
    {
        if (OperatingSystem.IsWindows())
        {
            // No SIGTERM on Windows; the demo's graceful stop needs a POSIX system.
            throw new PlatformNotSupportedException("The graceful stop sends SIGTERM, which needs Linux or macOS.");
        }

        if (SendSignal(_process.Id, SigTerm) != 0)
        {
            throw new InvalidOperationException($"kill({_process.Id}, SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}.");
        }
    }

    public Task WaitForExitAsync(CancellationToken cancellationToken) => _process.WaitForExitAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        await _log.DisposeAsync();
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SendSignal(int pid, int signal);

    private static void Write(TextWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        try
        {
            log.WriteLine(line);
        }
        catch (ObjectDisposedException)
        {
            // The last lines of a process that outlived the demo's bookkeeping.
        }
    }

    /// <summary>The same dotnet host that runs the demo (or the SDK's), so the worker runs on the same runtime.</summary>
    private static string DotnetHost()
    {
        var fromSdk = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(fromSdk) && File.Exists(fromSdk))
        {
            return fromSdk;
        }

        var self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            return self;
        }

        return "dotnet";
    }
}
