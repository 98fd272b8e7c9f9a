using System.Runtime.InteropServices;

namespace RecoverableStreams.FaultTests.Infrastructure;

/// <summary>POSIX signals sent to one process by its PID (Linux numbers), never by name; and its threads' nice values.</summary>
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

    /// <summary>
    /// The threads of process <paramref name="pid"/> (their ids, from /proc/&lt;pid&gt;/task) with their nice values;
    /// empty when it is gone. Linux keeps the nice value per thread: <c>renice -p</c> changes one thread only.
    /// </summary>
    public static IReadOnlyDictionary<int, int> ThreadNices(int pid)
    {
        var nices = new Dictionary<int, int>();
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                try
                {
                    var stat = File.ReadAllText(Path.Combine(task, "stat"));
                    // After "tid (comm) ", field 3 is the state; nice is field 19 of the whole line.
                    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                    nices[int.Parse(Path.GetFileName(task), System.Globalization.CultureInfo.InvariantCulture)] = int.Parse(fields[16], System.Globalization.CultureInfo.InvariantCulture);
                }
                catch (IOException)
                {
                    // The thread ended meanwhile.
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        return nices;
    }

    /// <summary>Sets one thread's nice value (setpriority(PRIO_PROCESS, tid)); 0, or the errno (1 EPERM, 3 ESRCH, 13 EACCES).</summary>
    public static int SetNice(int tid, int nice) => setpriority(0, tid, nice) == 0 ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>
    /// Puts thread <paramref name="tid"/> in the <c>SCHED_IDLE</c> class (<paramref name="idle"/>) or back in the normal
    /// one (<c>SCHED_OTHER</c>); returns 0 or the errno. An idle-class thread runs only when nothing else wants the core
    /// and never preempts a normal one when it wakes; leaving the class needs root or CAP_SYS_NICE.
    /// </summary>
    public static int SetIdleClass(int tid, bool idle)
    {
        var priority = 0;
        return sched_setscheduler(tid, idle ? SchedIdle : SchedOther, ref priority) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    private const int SchedOther = 0;
    private const int SchedIdle = 5;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setpriority(int which, int who, int prio);

    /// <summary><c>struct sched_param</c> is one int (the static priority, 0 for these classes).</summary>
    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_setscheduler(int pid, int policy, ref int param);
}
