using System.Collections.Concurrent;
using System.Diagnostics;

namespace RecoverableStreams.FaultTests.Infrastructure;

/// <summary>
/// A process the tests start and control by its PID: stop gracefully (SIGTERM), kill (SIGKILL), freeze (SIGSTOP),
/// thaw (SIGCONT) and start again with the same command. Output goes to a log file and a short in-memory tail.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private const int TailLines = 200;
    private readonly string _fileName;
    private readonly IReadOnlyList<string> _arguments;
    private readonly IReadOnlyDictionary<string, string> _environment;
    private readonly ConcurrentQueue<string> _tail = new();
    private readonly Lock _logGate = new();
    private readonly StreamWriter? _log;
    private readonly string? _workingDirectory;
    private Process? _process;
    private ConcurrentDictionary<string, int>? _lineCounts;

    public ChildProcess(string name, string fileName, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment = null, string? logPath = null, string? workingDirectory = null)
    {
        _workingDirectory = workingDirectory;
        Name = name;
        _fileName = fileName;
        _arguments = arguments;
        _environment = environment ?? new Dictionary<string, string>();
        LogPath = logPath;
        if (logPath is not null)
        {
            _log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        }
    }

    public string Name { get; }

    public string? LogPath { get; }

    public int Pid => _process?.Id ?? throw new InvalidOperationException($"{Name} has not been started.");

    public bool IsRunning => _process is { HasExited: false };

    public bool IsFrozen { get; private set; }

    /// <summary>How many times the process was started (1 after the first start).</summary>
    public int Starts { get; private set; }

    public int? ExitCode => _process is { HasExited: true } p ? p.ExitCode : null;

    public void Start()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"{Name} is already running (pid {_process!.Id}).");
        }

        _process?.Dispose();
        var info = new ProcessStartInfo(_fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in _arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in _environment)
        {
            info.Environment[key] = value;
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException($"{Name} did not start.");
        Starts++;
        IsFrozen = false;
        Write($"--- start #{Starts}: pid {process.Id}");
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
    }

    /// <summary>SIGKILL: like a crashed pod. Nothing is released; its leases expire in Redis.</summary>
    public async Task KillAsync()
    {
        if (!IsRunning)
        {
            return;
        }

        Write($"--- SIGKILL pid {_process!.Id}");
        Signals.Send(_process.Id, Signals.Kill);
        await _process.WaitForExitAsync();
        IsFrozen = false;
    }

    /// <summary>SIGSTOP: the process is frozen (a paused VM, a long GC, a throttled container).</summary>
    public void Freeze()
    {
        Write($"--- SIGSTOP pid {Pid}");
        Signals.Send(Pid, Signals.Stop);
        IsFrozen = true;
    }

    /// <summary>SIGCONT: the frozen process runs again, unaware that time has passed.</summary>
    public void Thaw()
    {
        Signals.Send(Pid, Signals.Continue);
        IsFrozen = false;
        Write($"--- SIGCONT pid {Pid}");
    }

    /// <summary>SIGTERM, then SIGKILL when it has not exited within <paramref name="grace"/>. Returns true when it exited by itself.</summary>
    public async Task<bool> StopAsync(TimeSpan grace)
    {
        if (!IsRunning)
        {
            return true;
        }

        if (IsFrozen)
        {
            Thaw();
        }

        Write($"--- SIGTERM pid {_process!.Id}");
        Signals.Send(_process.Id, Signals.Terminate);
        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            await KillAsync();
            return false;
        }
    }

    /// <summary>How many lines the process wrote (over all its starts) that contain <paramref name="text"/>.</summary>
    public int CountLines(string text) => _lineCounts?.GetValueOrDefault(text) ?? 0;

    /// <summary>Counts, from now on, the output lines that contain <paramref name="text"/>.</summary>
    public void CountLinesContaining(string text) => (_lineCounts ??= new ConcurrentDictionary<string, int>(StringComparer.Ordinal)).TryAdd(text, 0);

    /// <summary>The last lines the process wrote (stdout and stderr).</summary>
    public string Tail(int lines = 40) => string.Join(Environment.NewLine, _tail.ToArray().TakeLast(lines));

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            if (!_process.HasExited)
            {
                if (IsFrozen)
                {
                    Signals.Send(_process.Id, Signals.Continue);
                }

                Signals.Send(_process.Id, Signals.Kill);
                await _process.WaitForExitAsync();
            }

            _process.Dispose();
        }

        lock (_logGate)
        {
            _log?.Dispose();
        }
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        if (_lineCounts is { } counts)
        {
            foreach (var text in counts.Keys)
            {
                if (line.Contains(text, StringComparison.Ordinal))
                {
                    counts.AddOrUpdate(text, 1, (_, n) => n + 1);
                }
            }
        }

        _tail.Enqueue(line);
        while (_tail.Count > TailLines && _tail.TryDequeue(out _))
        {
        }

        Write(line);
    }

    private void Write(string line)
    {
        lock (_logGate)
        {
            try
            {
                _log?.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
                // Output that arrives after the test ended.
            }
        }
    }
}
