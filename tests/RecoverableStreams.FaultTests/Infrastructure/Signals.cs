using System.Runtime.InteropServices;

namespace RecoverableStreams.FaultTests.Infrastructure;

/// <summary>POSIX signals sent to one process by its PID (Linux numbers), never by name.</summary>
internal static partial class Signals
{
    public const int Kill = 9;
    public const int Terminate = 15;
    public const int Continue = 18;
    public const int Stop = 19;

    public static void Send(int pid, int signal)
    {
        if (kill(pid, signal) != 0)
        {
            throw new InvalidOperationException($"kill({pid}, {signal}) failed with errno {Marshal.GetLastPInvokeError()}.");
        }
    }

    /// <summary>The state letter in /proc/&lt;pid&gt;/stat: R running, S sleeping, T stopped, Z zombie; null when gone.</summary>
    public static char? State(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // "pid (comm) S ...": comm may contain spaces, so look after the last ')'.
            var close = stat.LastIndexOf(')');
            return stat[close + 2];
        }
        catch (IOException)
        {
            return null;
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);
}
