using System.Diagnostics;
using System.Text.Json;

namespace RecoverableStreams.FaultTests.Checker;

/// <summary>
/// Appends history events as JSON lines, one write per line with the file flushed each time, so a process killed with
/// SIGKILL loses no event it had recorded (the kernel holds what was written).
/// </summary>
internal sealed class HistoryLog : IDisposable
{
    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };
    private readonly Lock _gate = new();
    private readonly StreamWriter _writer;
    private readonly string _process;
    private long _nextId;

    public HistoryLog(string path, string process)
    {
        _process = process;
        _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
    }

    /// <summary>The shared clock: nanoseconds of CLOCK_MONOTONIC (the same in every process on this machine).</summary>
    public static long Now() => (long)(Stopwatch.GetTimestamp() * (1_000_000_000.0 / Stopwatch.Frequency));

    /// <summary>A new operation id for this process.</summary>
    public long NextId() => Interlocked.Increment(ref _nextId);

    public void Write(long time, long id, HistoryOp op, HistoryPhase phase, string? stream = null, long token = 0, string? detail = null) =>
        Append(new HistoryEvent(time, _process, id, op, phase, stream, token, detail));

    public void Append(HistoryEvent e)
    {
        var line = JsonSerializer.Serialize(e, Json);
        lock (_gate)
        {
            _writer.WriteLine(line);
        }
    }

    public static IEnumerable<HistoryEvent> Read(string path)
    {
        foreach (var line in File.ReadLines(path))
        {
            // A process killed mid-write may leave a torn last line; everything before it is whole.
            if (line.Length == 0 || line[^1] != '}')
            {
                continue;
            }

            yield return JsonSerializer.Deserialize<HistoryEvent>(line, Json)!;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _writer.Dispose();
        }
    }
}
