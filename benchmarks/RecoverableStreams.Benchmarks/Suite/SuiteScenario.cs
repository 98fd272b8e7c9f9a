using System.Diagnostics;
using System.Globalization;
using System.Text;
using RecoverableStreams.Benchmarks.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.Benchmarks.Suite;

/// <summary>
/// Every row of issue 7's benchmark list, for each N, side by side with the Go library's mechanism and RedLock.net,
/// on one redis-server in one run; writes docs/BENCHMARKS.md and its SVG charts (run by eng/bench.sh).
/// </summary>
internal static class SuiteScenario
{
    public static async Task<string> RunAsync(IConnectionMultiplexer redis, string endPoint, string redisDescription, BenchArguments args)
    {
        var settings = SuiteSettings.From(args);
        var report = Define(new SuiteReport(), settings);
        var loadAtStart = MachineInfo.LoadAverage();
        var started = DateTimeOffset.UtcNow;
        var watch = Stopwatch.StartNew();
        var ours = new OursRows(redis, endPoint, settings, report);
        var ttl = new TtlKeyRows(redis, endPoint, settings, report);
        await RowHelpers.ResetAsync(redis);
        // What an empty server costs on this machine (its own cron, this benchmark's connection): the floor of every row.
        var baseline = await RedisUsage.MeasureAsync(redis.GetServers()[0], TimeSpan.FromSeconds(5));

        foreach (var n in settings.Sizes)
        {
            Console.WriteLine($"== N = {n} ({watch.Elapsed:mm\\:ss}, load {MachineInfo.LoadAverage()})");
            await Row(settings, "idle, ours", n, report, () => ours.IdleAsync(n), "idle.cmds", Library.Ours);
            await Row(settings, "idle, TTL keys", n, report, () => ttl.IdleAsync(n), "idle.cmds", Library.TtlKeys);
            await Row(settings, "idle, RedLock.net", n, report, () => RedLockIdleAsync(redis, endPoint, settings, report, n), "idle.cmds", Library.RedLock);
            await Row(settings, "crash, ours", n, report, () => ours.CrashAsync(n), "crash.max", Library.Ours);
            await Row(settings, "crash, TTL keys", n, report, () => ttl.CrashAsync(n), "crash.max", Library.TtlKeys);
            await Row(settings, "handover, ours", n, report, () => ours.HandoverAsync(n), "handover.max", Library.Ours);
            await Row(settings, "spread, ours", n, report, () => ours.SpreadAsync(n), "spread.end", Library.Ours);
            await Row(settings, "spread, TTL keys", n, report, () => ttl.SpreadAsync(n), "spread.end", Library.TtlKeys);
        }

        var max = settings.MaxSize;
        Console.WriteLine($"== N = {max}: orphan backlog and soak ({watch.Elapsed:mm\\:ss}, load {MachineInfo.LoadAverage()})");
        await Row(settings, "orphans, ours", max, report, () => ours.OrphansAsync(max), "orphans.all", Library.Ours);
        await Row(settings, "orphans, TTL keys", max, report, () => ttl.OrphansAsync(max), "orphans.all", Library.TtlKeys);
        await Row(settings, "soak, ours", max, report, () => ours.SoakAsync(max), "soak.lost", Library.Ours);
        await Row(settings, "soak, TTL keys", max, report, () => ttl.SoakAsync(max), "soak.lost", Library.TtlKeys);
        await Row(settings, "soak, RedLock.net", max, report, () => RedLockSoakAsync(redis, endPoint, settings, report, max), "soak.lost", Library.RedLock);

        var version = redis.GetServers()[0].Version;
        var header = Header(settings, redisDescription, version, started, watch.Elapsed, loadAtStart, MachineInfo.LoadAverage(), baseline);
        var targets = Targets(report, settings);
        // The charts go to benchmarks/ beside the report (docs/benchmarks/ for docs/BENCHMARKS.md).
        var path = Path.GetFullPath(args.Get("out") ?? Path.Combine(DocsDirectory(), "BENCHMARKS.md"));
        var charts = Directory.CreateDirectory(Path.Combine(Path.GetDirectoryName(path)!, "benchmarks")).FullName;
        foreach (var stale in Directory.EnumerateFiles(charts, "*.svg"))
        {
            // Charts of an earlier run (e.g. other sizes) would otherwise linger beside the new report.
            File.Delete(stale);
        }

        var markdown = report.ToMarkdown(header + targets, charts, "benchmarks/");
        await File.WriteAllTextAsync(path, markdown);
        return path;
    }

    /// <summary>Per library, the smallest N whose setup timed out; its later rows at that N and above are not run.</summary>
    private static readonly Dictionary<Library, int> _setupFailedAt = [];

    /// <summary>Runs one row; an exception becomes the row's value instead of ending the run.</summary>
    private static async Task Row(SuiteSettings settings, string name, int n, SuiteReport report, Func<Task> row, string metric, Library library)
    {
        // --only "crash" (a substring of the row names below) runs a subset, for development.
        if (settings.Only is { } only && !name.Contains(only, StringComparison.OrdinalIgnoreCase))
        {
            return;
        }

        if (_setupFailedAt.TryGetValue(library, out var failedAt) && n >= failedAt)
        {
            report.Set(metric, n, library, Cell.Note($"not run: could not own N = {failedAt:N0} in time"));
            return;
        }

        Console.WriteLine($"  {name}, N = {n} ({DateTimeOffset.UtcNow:HH:mm:ss})");
        try
        {
            await row();
        }
        catch (SetupTimeoutException ex)
        {
            _setupFailedAt[library] = Math.Min(n, _setupFailedAt.GetValueOrDefault(library, n));
            report.Set(metric, n, library, Cell.Note(ex.Message));
        }
        catch (Exception ex)
        {
            Console.WriteLine($"    failed: {ex}");
            report.Set(metric, n, library, Cell.Note($"error: {ex.GetType().Name}: {ex.Message.Split('\n')[0]}"));
        }
    }

    /// <summary>
    /// The Redis bill of a window as "{prefix}.cmds" and "{prefix}.cpu". When the library did not keep its leases, the
    /// cells say so and carry no number: a cheap bill for leases that were not kept is no comparison (no ratio, no bar).
    /// </summary>
    public static void SetBill(SuiteReport report, string prefix, int n, Library library, RedisUsage usage, string? notKept)
    {
        if (notKept is not null)
        {
            report.Set(prefix + ".cmds", n, library, Cell.Note($"{usage.CommandsPerSecond:N0}/s, but {notKept}"));
            report.Set(prefix + ".cpu", n, library, Cell.Note($"{usage.CpuMsPerSecond:N1} ms/s, but {notKept}"));
            return;
        }

        report.Set(prefix + ".cmds", n, library, Cell.Rate(usage.CommandsPerSecond, "/s") with { Text = $"{usage.CommandsPerSecond:N0}/s ({usage.TopCommands})" });
        report.Set(prefix + ".cpu", n, library, Cell.Rate(usage.CpuMsPerSecond, "ms/s"));
    }

    /// <summary>The smallest N at which RedLock.net could not take its locks in time; larger N are not tried.</summary>
    private static int? _redLockFailedAt;

    private static async Task RedLockIdleAsync(IConnectionMultiplexer redis, string endPoint, SuiteSettings settings, SuiteReport report, int n)
    {
        if (_redLockFailedAt is { } failedAt && n > failedAt)
        {
            report.Set("idle.cmds", n, Library.RedLock, Cell.Note($"not run: acquiring timed out at N = {failedAt:N0}"));
            return;
        }

        var outcome = await RedLockHold.RunAsync(redis, endPoint, n, SuiteSettings.IdleLease, settings.Window, sample: false);
        if (outcome.Usage is not { } usage)
        {
            _redLockFailedAt ??= n;
            report.Set("idle.cmds", n, Library.RedLock, Cell.Note("timeout: " + outcome.Failure));
            return;
        }

        SetBill(report, "idle", n, Library.RedLock, usage, outcome.MissingAtEnd == 0 ? null : $"{outcome.MissingAtEnd:N0} of {n:N0} keys expired: its extensions did not run");
        report.Set("idle.lost", n, Library.RedLock, Cell.Count(outcome.MissingAtEnd) with { Text = $"{outcome.MissingAtEnd} (keys gone at the end)" });
        await RowHelpers.ResetAsync(redis);
    }

    private static async Task RedLockSoakAsync(IConnectionMultiplexer redis, string endPoint, SuiteSettings settings, SuiteReport report, int n)
    {
        if (_redLockFailedAt is { } failedAt && n >= failedAt)
        {
            report.Set("soak.lost", n, Library.RedLock, Cell.Note($"not run: acquiring timed out at N = {failedAt:N0}"));
            return;
        }

        var outcome = await RedLockHold.RunAsync(redis, endPoint, n, SuiteSettings.SoakLease, settings.Soak, sample: true);
        if (outcome.Usage is not { } usage)
        {
            report.Set("soak.lost", n, Library.RedLock, Cell.Note("timeout: " + outcome.Failure));
            return;
        }

        report.Set("soak.lost", n, Library.RedLock, Cell.Count(outcome.MissingEver) with { Text = $"{outcome.MissingEver} ({outcome.MissingAtEnd} gone at the end)" });
        SetBill(report, "soak", n, Library.RedLock, usage, outcome.MissingEver == 0 ? null : $"{outcome.MissingEver:N0} of {n:N0} keys lost");
        await RowHelpers.ResetAsync(redis);
    }

    private static SuiteReport Define(SuiteReport report, SuiteSettings settings)
    {
        var idle = $"Idle cost (one consumer, LeaseDuration {SuiteSettings.IdleLease.TotalSeconds:F0} s, {settings.Window.TotalSeconds:F0} s steady window)";
        const string Window = "INFO commandstats and INFO cpu (used_cpu_sys + used_cpu_user of the redis-server) read before and after the window; the measurement's own INFO calls are left out; commands run inside scripts count too, as INFO commandstats counts them (an EVALSHA doing GET + PEXPIRE counts 3). In brackets: the three most frequent commands.";
        report.Define("idle.cmds", idle, "Redis commands/s, upkeep alone", Window + " Nothing happens on any stream; only lease upkeep (and the library's background loops) runs.", "idle-commands");
        report.Define("idle.cpu", idle, "Redis CPU ms/s, upkeep alone", "Milliseconds of redis-server CPU per second of the same window.", "idle-cpu");
        report.Define("readers.cmds", idle, "Redis commands/s, with idle readers", "The same consumer, now with every owned stream's handler waiting in `lease.ReadEntriesAsync` for data that never comes.", "readers-commands");
        report.Define("readers.cpu", idle, "Redis CPU ms/s, with idle readers", "Milliseconds of redis-server CPU per second, idle readers included.", "readers-cpu");
        report.Define("idle.lost", idle, "Leases lost during the idle windows", "Ours: `StreamDisowned` notifications during both windows. TTL keys: renewals that found the key gone or taken. RedLock.net: keys gone at the end of the window.");
        report.NotApplicable("readers.cmds", Library.TtlKeys, "the Go library hands the caller a stream name and offers no reader; waiting for data is the caller's own `XREAD BLOCK`, which holds one connection per stream (100,000 connections at N = 100k).");
        report.NotApplicable("readers.cpu", Library.TtlKeys, "as above.");
        report.NotApplicable("readers.cmds", Library.RedLock, "a lock library: it has no notion of a stream to read.");
        report.NotApplicable("readers.cpu", Library.RedLock, "as above.");

        var failover = $"Failover (LeaseDuration {SuiteSettings.FailoverLease.TotalSeconds:F0} s, {SuiteSettings.Survivors} survivors)";
        const string Crash = "The owner of N streams is killed (ours: a child process killed by its PID right after a renewal completed, so no renewal was in flight; TTL keys: every renewal loop stopped, nothing released). Per stream: the moment a survivor owns it (ours: its `StreamAdded`; TTL keys: its lock taken) minus that stream's deadline (ours: `StreamLease.ExpiresAt` as the owner last knew it, Redis clock converted with a measured offset; TTL keys: send time of its last renewal + TTL).";
        report.Define("crash.p50", failover, "Crash failover p50, re-owned after the deadline", Crash, "crash-p50");
        report.Define("crash.p99", failover, "Crash failover p99, re-owned after the deadline", Crash, "crash-p99");
        report.Define("crash.max", failover, "Crash failover max, re-owned after the deadline", Crash + " A timeout says how many were re-owned before the deadline of the wait.", "crash-max");
        report.NotApplicable("crash.p50", Library.RedLock, "RedLock.net has no failover: nothing tells a waiter that a lock expired; each waiter can only retry `CreateLockAsync` per resource in a loop (one poll per resource per retry interval), which is a different, polling design, not a peer of this row.");
        report.NotApplicable("crash.p99", Library.RedLock, "as above.");
        report.NotApplicable("crash.max", Library.RedLock, "as above.");

        const string Handover = "The owner calls `DoneAsync` (its leases end, its session is closed); 3 AutoClaim survivors take over. Per stream: owned by a survivor minus the call.";
        report.Define("handover.p50", failover, "Graceful handover p50, from DoneAsync", Handover, "handover-p50");
        report.Define("handover.p99", failover, "Graceful handover p99, from DoneAsync", Handover);
        report.Define("handover.max", failover, "Graceful handover max, from DoneAsync", Handover, "handover-max");
        foreach (var id in new[] { "handover.p50", "handover.p99", "handover.max" })
        {
            report.NotApplicable(id, Library.TtlKeys, "the Go library's `Done()` acknowledges (completes) every stream and unlocks it; there is no handover, the streams are finished, not re-owned.");
            report.NotApplicable(id, Library.RedLock, "no assignment of streams, so nothing to hand over; releasing a lock tells no one.");
        }

        report.Define("orphans.all", failover, "Orphan backlog: until all owned again", "A killed owner of N streams; once its last deadline has passed (+1 s), one fresh consumer (AutoClaim, capacity N) starts. Time from its start until it owns all N.", "orphans");
        report.NotApplicable("orphans.all", Library.RedLock, "no assignment: nothing records which resources exist, so nobody can find the orphans.");

        const string Pickup = "On the idle consumer of the rows above (owning N streams): one stream announced at a time (ours: `StreamPublisher.AddStreamAsync`; TTL keys: XADD of the Go format), timed from just before the call to the handler's start (ours: its `StreamAdded` read from the notification channel; TTL keys: its lock taken after XREADGROUP). The first 3 of each run are discarded.";
        report.Define("pickup.p50", "Pickup", "Announce → handler start p50", Pickup, "pickup-p50");
        report.Define("pickup.p99", "Pickup", "Announce → handler start p99", Pickup, "pickup-p99");
        report.NotApplicable("pickup.p50", Library.RedLock, "no announcements: a lock library is told what to lock.");
        report.NotApplicable("pickup.p99", Library.RedLock, "as above.");

        const string Spread = "3 consumers (AutoClaim, capacity N each) share N streams; then a 4th joins. Sampled every 250 ms for two lease durations + 10 s (or until ≤ 1.2 held for 2 s): max / min streams owned across the 4. First cell: at the join → at the end of sampling.";
        report.Define("spread.end", "Spread (4 consumers, one joining late)", "max / min owned: at the join → at the end", Spread);
        report.Define("spread.time", "Spread (4 consumers, one joining late)", "Time until max / min ≤ 1.2", "From the 4th consumer's start until max / min ≤ 1.2 (and stays there for the rest of the sampling).");
        report.NotApplicable("spread.end", Library.RedLock, "no assignment, so no spread.");
        report.NotApplicable("spread.time", Library.RedLock, "as above.");

        var soak = $"Soak (N = max, LeaseDuration {SuiteSettings.SoakLease.TotalSeconds:F0} s, {settings.Soak.TotalSeconds:F0} s window)";
        report.Define("soak.lost", soak, "Leases lost during the window", "Ours: handlers waiting in `ReadEntriesAsync`; lost = `StreamDisowned` during the window (or leases no longer owned, whichever is larger). TTL keys: renewals that found their key gone or taken. RedLock.net: keys found missing at any 1 s sample (each key checked with EXISTS; in brackets, missing at the end). The issue's target is 0 over 5 minutes at N = 100k: `BENCH_SOAK_SECONDS=300 eng/bench.sh`.");
        report.Define("soak.cmds", soak, "Redis commands/s during the soak", Window, "soak-commands");
        report.Define("soak.cpu", soak, "Redis CPU ms/s during the soak", "Milliseconds of redis-server CPU per second of the soak window.", "soak-cpu");
        return report;
    }

    private static string Header(SuiteSettings settings, string redisDescription, Version version, DateTimeOffset started, TimeSpan elapsed, string loadAtStart, string loadAtEnd, RedisUsage baseline)
    {
        var text = new StringBuilder();
        text.AppendLine("# Benchmarks").AppendLine();
        text.AppendLine("Generated by `eng/bench.sh` (the `suite` scenario of `benchmarks/RecoverableStreams.Benchmarks`); do not edit by hand, rerun it. ");
        text.AppendLine("Each row is measured in the same run on the same redis-server, one library after the other, for this library and two peers:").AppendLine();
        text.AppendLine("- **RecoverableStreams**, through its public API (`RecoverableStreamClient`, `StreamPublisher`, `StreamLease`).");
        text.AppendLine("- **TTL key per stream**, the mechanism of the Go library [redis-stream-client-go](https://github.com/handcoding-labs/redis-stream-client-go), reimplemented small in `benchmarks/RecoverableStreams.Benchmarks/Peers/TtlKeyPeer.cs`: `SET key PX` per stream, renewed by its own loop every TTL/2, expiry found only through keyspace `expired` events, then `XCLAIM` + lock.");
        text.AppendLine("- **RedLock.net 2.3.2**, one auto-extended lock per stream, in a child process (its per-lock timers starve a thread pool).").AppendLine();
        text.AppendLine("Ratios are ours ÷ peer: below 1 means ours is lower (cheaper or faster). \"n/a\" rows say why the peer cannot do them; \"timeout\" cells say what was reached before the row's deadline.").AppendLine();
        text.AppendLine("The Redis Cluster row (1,000,000 idle streams over 4 consumer processes on 3 primaries, then a crash) runs separately: `eng/bench.sh --cluster` writes `benchmarks/results/cluster-<utc time>.md` (benchmarks/README.md).").AppendLine();
        text.AppendLine("## Run").AppendLine();
        text.AppendLine("| | |").AppendLine("|---|---|");
        text.AppendLine($"| date (UTC) | {started:yyyy-MM-dd HH:mm} |");
        text.AppendLine($"| command | `eng/bench.sh` → `{settings.Command.Trim()}`{(settings.Quick ? " (**quick**: N capped, short windows)" : "")} |");
        text.AppendLine($"| N | {string.Join(", ", settings.Sizes.Select(n => n.ToString("N0", CultureInfo.InvariantCulture)))} (orphan backlog and soak at {settings.MaxSize.ToString("N0", CultureInfo.InvariantCulture)}) |");
        text.AppendLine($"| windows | idle {settings.Window.TotalSeconds:F0} s, soak {settings.Soak.TotalSeconds:F0} s, {settings.Pickups} pickups per N |");
        text.AppendLine($"| machine | {Environment.ProcessorCount} logical cores (nproc), {MachineInfo.CpuModel()}, {MachineInfo.Memory()} memory, {System.Runtime.InteropServices.RuntimeInformation.OSDescription} |");
        text.AppendLine($"| load average (1/5/15 min) | start {loadAtStart}; end {loadAtEnd} |");
        text.AppendLine($"| Redis | redis-server {version} ({redisDescription}), persistence off |");
        text.AppendLine($"| Redis baseline | {baseline.CommandsPerSecond:N1} commands/s, {baseline.CpuMsPerSecond:N1} ms/s CPU with only this benchmark connected (the floor under every row) |");
        text.AppendLine($"| .NET | {Environment.Version}, StackExchange.Redis {typeof(ConnectionMultiplexer).Assembly.GetName().Version} |");
        text.AppendLine($"| duration | {elapsed:hh\\:mm\\:ss} |").AppendLine();
        text.AppendLine("The benchmark, its peers and Redis share the machine's cores; a load average above the core count means other work competed with the run, so compare rows within one run and rerun on a quiet machine before quoting absolute figures.").AppendLine();
        return text.ToString();
    }

    /// <summary>Issue 7's targets, next to what this run measured.</summary>
    private static string Targets(SuiteReport report, SuiteSettings settings)
    {
        var max = settings.MaxSize;
        string At(string metric, int n) => report.Get(metric, n, Library.Ours)?.Text ?? "not measured";
        // Not measured (null) only when the row has no cell; a cell without a number (timeout, leases lost) misses the target.
        bool? Below(string metric, int n, double limit) =>
            report.Get(metric, n, Library.Ours) is { } cell && !cell.Text.StartsWith("not run", StringComparison.Ordinal) ? cell.Value is { } v && v <= limit : null;
        string Verdict(params bool?[] checks) => checks.Any(c => c is null) ? "not measured" : checks.All(c => c == true) ? "met" : "**not met**";
        var text = new StringBuilder("## Targets (issue 7)\n\n| target | measured (RecoverableStreams) | verdict |\n|---|---|---|\n");
        var soakNote = max == 100_000 && settings.Soak >= TimeSpan.FromMinutes(5) ? "" : $" (this run: N = {max:N0}, {settings.Soak.TotalSeconds:F0} s; the target needs N = 100,000 and `BENCH_SOAK_SECONDS=300`)";
        text.AppendLine($"| 100,000 idle streams, 2 s leases, handlers in `ReadEntriesAsync`: 0 leases lost over 5 min{soakNote} | {At("soak.lost", max)} lost | {Verdict(Below("soak.lost", max, 0))} |");
        text.AppendLine($"| … Redis ≤ 1,000 commands/s and ≤ 20 ms/s CPU for upkeep plus idle watching | {At("soak.cmds", max)}; {At("soak.cpu", max)} | {Verdict(Below("soak.cmds", max, 1000), Below("soak.cpu", max, 20))} |");
        text.AppendLine($"| crash of an owner of 10,000 streams: all re-owned ≤ 150 ms after its deadline | max {At("crash.max", 10_000)} | {Verdict(Below("crash.max", 10_000, 150))} |");
        text.AppendLine($"| graceful handover of 10,000 streams ≤ 300 ms | max {At("handover.max", 10_000)} | {Verdict(Below("handover.max", 10_000, 300))} |");
        var spreadChecks = settings.Sizes.Select(n => Below("spread.time", n, 2 * SuiteSettings.FailoverLease.TotalMilliseconds)).ToArray();
        text.AppendLine($"| spread ≤ 1.2 within two lease durations ({2 * SuiteSettings.FailoverLease.TotalSeconds:F0} s) of a consumer joining | {string.Join("; ", settings.Sizes.Select(n => $"N = {n:N0}: {At("spread.time", n)}"))} | {Verdict(spreadChecks)} |");
        text.AppendLine($"| pickup p99 unchanged or better; sub-millisecond p50 when woken | {string.Join("; ", settings.Sizes.Select(n => $"N = {n:N0}: p50 {At("pickup.p50", n)}, p99 {At("pickup.p99", n)}"))} | p50 {Verdict(settings.Sizes.Select(n => Below("pickup.p50", n, 1)).ToArray())}; p99: compare with the previous run |");
        return text.AppendLine().ToString();
    }

    /// <summary>docs/ of the repository, found from the working directory or the binary's location.</summary>
    private static string DocsDirectory()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "RecoverableStreams.Hosting.sln")))
                {
                    return Directory.CreateDirectory(Path.Combine(dir.FullName, "docs")).FullName;
                }
            }
        }

        return Directory.CreateDirectory(Path.Combine(Directory.GetCurrentDirectory(), "docs")).FullName;
    }
}
