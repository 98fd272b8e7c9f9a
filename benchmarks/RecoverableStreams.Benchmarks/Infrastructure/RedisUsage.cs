using System.Globalization;
using StackExchange.Redis;

namespace RecoverableStreams.Benchmarks.Infrastructure;

/// <summary>What the redis-server did over a window: commands per second and its own CPU time per second.</summary>
internal sealed record RedisUsage(double Seconds, double CommandsPerSecond, double CpuMsPerSecond, string TopCommands)
{
    /// <summary>Our own measurement commands, left out of the counts.</summary>
    private static readonly HashSet<string> Measurement = new(StringComparer.Ordinal) { "info", "config|resetstat", "config" };

    /// <summary>
    /// Counts between two snapshots of <c>INFO commandstats</c> (calls per command) and <c>INFO cpu</c>
    /// (<c>used_cpu_sys</c> + <c>used_cpu_user</c> of the server process), so nothing is reset under other clients.
    /// </summary>
    public static async Task<Snapshot> SnapshotAsync(IServer server)
    {
        var commands = await server.InfoAsync("commandstats");
        var cpu = await server.InfoAsync("cpu");
        var calls = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var pair in commands.SelectMany(g => g))
        {
            // cmdstat_evalsha: calls=12,usec=345,usec_per_call=28.75,rejected_calls=0,failed_calls=0
            var name = pair.Key.StartsWith("cmdstat_", StringComparison.Ordinal) ? pair.Key[8..] : pair.Key;
            var field = pair.Value.Split(',').First(f => f.StartsWith("calls=", StringComparison.Ordinal));
            calls[name] = long.Parse(field[6..], CultureInfo.InvariantCulture);
        }

        var values = cpu.SelectMany(g => g).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        var seconds = double.Parse(values["used_cpu_sys"], CultureInfo.InvariantCulture) + double.Parse(values["used_cpu_user"], CultureInfo.InvariantCulture);
        return new Snapshot(Clock.NowMs, calls, seconds);
    }

    /// <summary>Measures <paramref name="window"/> from now.</summary>
    public static async Task<RedisUsage> MeasureAsync(IServer server, TimeSpan window)
    {
        var before = await SnapshotAsync(server);
        await Task.Delay(window);
        return Between(before, await SnapshotAsync(server));
    }

    /// <summary>
    /// Measures <paramref name="window"/> from now with a snapshot every second, so the tails show: besides the window's
    /// usage, the commands/s and CPU ms/s of each second (a burst, such as a safety pass, shows in p99 and max).
    /// </summary>
    public static async Task<(RedisUsage Usage, IReadOnlyList<double> CommandsPerSecond, IReadOnlyList<double> CpuMsPerSecond)> MeasureSampledAsync(IServer server, TimeSpan window)
    {
        var first = await SnapshotAsync(server);
        var previous = first;
        var commands = new List<double>();
        var cpu = new List<double>();
        var end = first.AtMs + window.TotalMilliseconds;
        while (Clock.NowMs < end)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(1000, Math.Max(1, end - Clock.NowMs))));
            var next = await SnapshotAsync(server);
            var second = Between(previous, next);
            commands.Add(second.CommandsPerSecond);
            cpu.Add(second.CpuMsPerSecond);
            previous = next;
        }

        return (Between(first, previous), commands, cpu);
    }

    /// <param name="before">The snapshot at the start of the window.</param>
    /// <param name="after">The snapshot at its end.</param>
    /// <param name="alsoExclude">Commands sent by the measurement itself (e.g. its own sampling), also left out.</param>
    public static RedisUsage Between(Snapshot before, Snapshot after, IReadOnlyCollection<string>? alsoExclude = null)
    {
        var seconds = (after.AtMs - before.AtMs) / 1000.0;
        var deltas = after.Calls
            .Where(c => !Measurement.Contains(c.Key) && alsoExclude?.Contains(c.Key) != true)
            .Select(c => (Name: c.Key, Calls: c.Value - before.Calls.GetValueOrDefault(c.Key)))
            .Where(c => c.Calls > 0)
            .OrderByDescending(c => c.Calls)
            .ToArray();
        var total = deltas.Sum(d => d.Calls);
        var top = string.Join(", ", deltas.Take(3).Select(d => $"{d.Name} {d.Calls / seconds:F0}/s"));
        return new RedisUsage(seconds, total / seconds, (after.CpuSeconds - before.CpuSeconds) * 1000.0 / seconds, top.Length == 0 ? "none" : top);
    }

    internal sealed record Snapshot(double AtMs, IReadOnlyDictionary<string, long> Calls, double CpuSeconds);
}
