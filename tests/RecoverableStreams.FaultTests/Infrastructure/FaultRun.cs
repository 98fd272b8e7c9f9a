using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using StackExchange.Redis;
using TcpProxy = RecoverableStreams.IntegrationTests.Infrastructure.TcpProxy;

namespace RecoverableStreams.FaultTests.Infrastructure;

/// <summary>
/// One scenario's world: a private Redis, the lease monitor, the sample worker as separate OS processes (one of them
/// optionally behind a <see cref="TcpProxy"/>), and a live producer. Faults are injected through its methods, which
/// count them and remember when the last one ended; <see cref="FinishAsync"/> waits for the drain and checks the outcome.
/// </summary>
internal sealed class FaultRun : IAsyncDisposable
{
    private readonly List<ChildProcess> _workers = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly CancellationTokenSource _stop = new();
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _faultLog = new();

    /// <summary>Faults that did not take effect (a target that owned nothing, no connection killed): each fails the scenario.</summary>
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _ineffective = new();

    /// <summary>The workers each targeted fault hit, with what they owned once it took hold.</summary>
    private readonly System.Collections.Concurrent.ConcurrentQueue<FaultTarget> _targets = new();

    /// <summary>The longest renewal silence of a hogged worker's session during each CPU hog (ms), for the figures.</summary>
    private readonly System.Collections.Concurrent.ConcurrentQueue<double> _hogRenewalGaps = new();
    private int _faults;
    private Task? _production;
    private TimeSpan _lastFaultEnded;

    /// <summary>The sample worker's log line for a summary refused because a newer owner's token is stored.</summary>
    private const string FencedWriteLog = "summary not written, a newer owner";

    /// <summary>The hosting log line for a handler failure counted as a delivery attempt.</summary>
    // Hosting event 252 only: a failure because Redis was unavailable (258) is not counted as an attempt.
    private const string FailedAttemptLog = "), failed attempt ";

    private FaultRun(ScenarioSettings settings, ServiceKeys keys, FaultRedis redis, ConnectionMultiplexer admin, LeaseMonitor monitor, TcpProxy? proxy, string logDirectory)
    {
        Settings = settings;
        Service = keys.Service;
        Keys = keys;
        Redis = redis;
        Admin = admin;
        Monitor = monitor;
        Proxy = proxy;
        LogDirectory = logDirectory;
        Options = new RecoverableStreamOptions { ServiceName = Service, Partitions = settings.Partitions };
        Producer = new StreamProducer(admin, Options, keys, settings.Plan, _clock);
    }

    public ScenarioSettings Settings { get; }

    public string Service { get; }

    /// <summary>The service's keys in every partition (<see cref="ScenarioSettings.Partitions"/>).</summary>
    public ServiceKeys Keys { get; }

    public FaultRedis Redis { get; }

    /// <summary>The test's own connection, straight to Redis (never through the proxy).</summary>
    public ConnectionMultiplexer Admin { get; }

    public LeaseMonitor Monitor { get; }

    public TcpProxy? Proxy { get; }

    public RecoverableStreamOptions Options { get; }

    public StreamProducer Producer { get; }

    public IReadOnlyList<ChildProcess> Workers => _workers;

    public string LogDirectory { get; }

    public int Faults => Volatile.Read(ref _faults);

    public TimeSpan Elapsed => _clock.Elapsed;

    public static async Task<FaultRun> StartAsync(ScenarioSettings settings)
    {
        var dll = WorkerLocation.Find();
        var service = "fault-" + Guid.NewGuid().ToString("N")[..8];
        var logDirectory = Path.Combine(TestContext.CurrentContext.WorkDirectory, "fault-logs", settings.Name + "-" + service);
        Directory.CreateDirectory(logDirectory);
        var redis = await FaultRedis.StartAsync(settings.AppendOnly);
        var admin = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{redis.Port},allowAdmin=true,abortConnect=false,connectRetry=5,syncTimeout=10000,asyncTimeout=10000,connectTimeout=2000");
        var keys = new ServiceKeys(service, settings.Partitions);
        var monitor = new LeaseMonitor("127.0.0.1", redis.Port, keys.ControlPrefixes);
        await monitor.Connected.WaitAsync(TimeSpan.FromSeconds(10));
        var proxy = settings.PartitionedWorker is null ? null : TcpProxy.Start(redis.Port);
        var run = new FaultRun(settings, keys, redis, admin, monitor, proxy, logDirectory);
        for (var i = 0; i < settings.Workers; i++)
        {
            var port = i == settings.PartitionedWorker ? proxy!.Port : redis.Port;
            run._workers.Add(NewWorker(dll, service, $"worker-{i}", port, settings, logDirectory));
        }

        foreach (var worker in run._workers)
        {
            worker.CountLinesContaining(FencedWriteLog);
            worker.CountLinesContaining(FailedAttemptLog);
            worker.Start();
        }

        await run.WaitForLiveConsumersAsync(settings.Workers, TimeSpan.FromSeconds(90));
        TestContext.Out.WriteLine($"[{settings.Name}] service {service}{(keys.Count > 1 ? $" ({keys.Count} partitions: {string.Join(", ", keys.Lbs)})" : "")}, redis :{redis.Port}{(proxy is null ? "" : $", proxy :{proxy.Port} for worker-{settings.PartitionedWorker}")}, workers {string.Join(", ", run._workers.Select(w => $"{w.Name}={w.Pid}"))}, logs {logDirectory}");
        return run;
    }

    /// <summary>Starts the producer in the background.</summary>
    public void StartProducing() => _production = Producer.RunAsync("data:" + Service, _stop.Token);

    /// <summary>Waits (by condition) until the producer has announced this share of its streams.</summary>
    public Task WaitForAnnouncedAsync(double share, TimeSpan? timeout = null) =>
        WaitAsync(() => Producer.Announced >= (int)(share * Settings.Plan.Streams), timeout ?? TimeSpan.FromSeconds(120), $"{share:P0} of the streams announced");

    // ---- Faults -------------------------------------------------------------------------------------------------

    public async Task KillWorkerAsync(int index, TimeSpan downtime)
    {
        var worker = _workers[index];
        await WaitUntilOwningAsync(worker.Name);
        var pid = worker.Pid;
        await worker.KillAsync();
        var target = await TargetAsync("SIGKILL", worker.Name);
        Fault($"SIGKILL {worker.Name} (pid {pid}) owning {target.Streams.Count} streams");
        await Task.Delay(downtime);
        worker.Start();
        Ended($"{worker.Name} started again (pid {worker.Pid})");
    }

    public async Task FreezeWorkerAsync(int index, TimeSpan duration)
    {
        var worker = _workers[index];
        await WaitUntilOwningAsync(worker.Name);
        worker.Freeze();
        var target = await TargetAsync("SIGSTOP", worker.Name);
        Fault($"SIGSTOP {worker.Name} (pid {worker.Pid}) owning {target.Streams.Count} streams, for {duration.TotalSeconds:0.#} s");
        await Task.Delay(duration);
        await ExpectSessionsDeadAsync(target);
        worker.Thaw();
        Ended($"SIGCONT {worker.Name}");
    }

    /// <summary>Partitions the proxied worker: connections reset and refused (default), or silently blackholed.</summary>
    public async Task PartitionAsync(TimeSpan duration, bool blackhole = false)
    {
        var proxy = Proxy ?? throw new InvalidOperationException("This scenario has no partitioned worker.");
        var worker = _workers[Settings.PartitionedWorker!.Value];
        // The proxied worker is a little slower to grab new entries than its peers: wait for a fair share.
        await WaitUntilOwningAsync(worker.Name, streams: 10);
        var kind = blackhole ? "blackhole" : "partition";
        var cutBefore = proxy.ConnectionsCut;
        if (blackhole)
        {
            proxy.Blackhole();
        }
        else
        {
            proxy.Cut();
        }

        var target = await TargetAsync(kind, worker.Name);
        Fault($"{kind} {worker.Name} from Redis (owning {target.Streams.Count} streams) for {duration.TotalSeconds:0.#} s");
        await Task.Delay(duration);
        await ExpectSessionsDeadAsync(target);
        if (!blackhole && proxy.ConnectionsCut == cutBefore)
        {
            _ineffective.Enqueue($"partition of {worker.Name}: no connection was cut");
        }

        proxy.Heal();
        Ended($"partition of {worker.Name} healed ({proxy.ConnectionsCut} connections cut so far)");
    }

    public async Task RestartRedisAsync(bool keepData, TimeSpan downtime)
    {
        Fault($"SIGKILL redis-server ({(keepData ? "AOF kept" : "data lost")}), down {downtime.TotalSeconds:0.#} s");
        var reconnects = Monitor.Reconnects;
        // A key only this test writes: after the restart it must be there with AOF and gone without persistence.
        var marker = (RedisKey)$"{Service}:fault-marker:{Guid.NewGuid():N}";
        await Admin.GetDatabase().StringSetAsync(marker, "written before the restart");
        await Redis.KillAndRestartAsync(keepData, downtime);
        // The monitor's connection broke and came back: the server really went away.
        if (!await IntegrationTests.Infrastructure.Eventually.TrueAsync(() => Monitor.Reconnects > reconnects, TimeSpan.FromSeconds(30)))
        {
            _ineffective.Enqueue("Redis restart: the lease monitor's connection was never broken");
        }

        bool? kept = null;
        await IntegrationTests.Infrastructure.Eventually.TrueAsync(async () =>
        {
            try
            {
                kept = await Admin.GetDatabase().KeyExistsAsync(marker);
                return true;
            }
            catch (RedisException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(30));
        if (kept != keepData)
        {
            _ineffective.Enqueue($"Redis restart ({(keepData ? "AOF kept" : "data lost")}): a key written before it is {(kept is null ? "unreadable" : kept.Value ? "still there" : "gone")} after it");
        }

        Ended($"redis-server answers again; the key written before the restart is {(kept == true ? "there" : "gone")}");
    }

    public async Task KillPubSubAsync()
    {
        var killed = await Redis.KillPubSubClientsAsync(Admin);
        Fault($"CLIENT KILL TYPE pubsub: {killed} connections");
        if (killed == 0)
        {
            _ineffective.Enqueue("CLIENT KILL TYPE pubsub killed no connection");
        }
        Ended("");
    }

    /// <summary>
    /// Busy-loop processes (twice the core count) for <paramref name="duration"/>, each stopped by its PID, while every
    /// running worker's threads are lowered to nice 19 in the <c>SCHED_IDLE</c> class; both are put back afterwards.
    /// </summary>
    /// <remarks>
    /// Busy loops at the workers' own priority do not starve them: the scheduler gives a thread that wakes from sleep
    /// (a renewal timer, a socket reply) its fair share at once, so on an idle 2-core box the renewals stayed within
    /// 10 % of their schedule beside four such loops. Lowering the workers (weight 15 at nice 19 against 1024 for a
    /// loop at nice 0: about 1.5 % of a core beside one loop) starves exactly the processes under test, but a thread
    /// waking from sleep still preempts the loops: nice 19 alone made a 2 s lease's renewals only 800-990 ms apart (for
    /// 667 ms intervals) in most rounds of a 10-minute soak. So the threads also go into the <c>SCHED_IDLE</c> class,
    /// which never preempts a normal thread: they run only in what the loops leave. Raising the
    /// loops instead (nice -15) would starve Redis, this test process (which stops the hog on time and timestamps
    /// nothing itself, but must stay responsive) and whatever else shares the machine; a starved Redis delays every
    /// renewal alike, which is a Redis stall, another fault. Linux keeps nice per thread, so every thread of each worker
    /// is lowered, again every 100 ms for threads started meanwhile. Putting a nice value back down needs root or
    /// CAP_SYS_NICE: without it the hog fails before it starts rather than leave the workers lowered.
    /// </remarks>
    public async Task CpuHogAsync(TimeSpan duration)
    {
        var hogged = _workers.Where(w => w.IsRunning && !w.IsFrozen).ToList();
        var names = hogged.Select(w => w.Name).ToList();
        bool OfHogged(string session) => names.Any(n => session.Split('|')[0].EndsWith(n, StringComparison.Ordinal));
        // A renewal is late after 1.5 renew intervals (the workers keep the library's default, a fifth of the lease).
        var intervalMs = (Settings.LeaseDuration / 5).TotalMilliseconds;
        var lateMs = 1.5 * intervalMs;
        // First (by condition, up to 20 s) every hogged worker renews on time: none silent beyond that over the last
        // three intervals. Lateness under the hog is then the hog's doing, not a worker's start-up (JIT, first grants)
        // on a busy machine; if they never settle the run goes on, and the fault log says so.
        var steady = await IntegrationTests.Infrastructure.Eventually.TrueAsync(async () =>
        {
            var now = await RedisMicrosAsync();
            return Monitor.LongestRenewalSilence(now - (long)(3 * intervalMs * 1000), now, OfHogged).SilenceMs <= lateMs;
        }, TimeSpan.FromSeconds(20));
        Fault($"CPU hog: {2 * Environment.ProcessorCount} busy processes for {duration.TotalSeconds:0.#} s, {string.Join(", ", names)} lowered to nice {HoggedNice} and SCHED_IDLE{(steady ? "" : " (their renewals were not on time before it either)")}");
        var from = await RedisMicrosAsync();
        var hogs = Enumerable.Range(0, 2 * Environment.ProcessorCount)
            .Select(i => new ChildProcess($"hog-{i}", "/bin/sh", ["-c", "while :; do :; done"]))
            .ToList();
        var hogCpu = 0.0;
        // Each hogged worker's PID and the nice value of its main thread before the hog, to put every thread back to.
        var original = new Dictionary<int, int>();
        var notRestored = new List<string>();
        try
        {
            foreach (var hog in hogs)
            {
                hog.Start();
            }

            // Can a nice value be put back down here? Tried on a hog (ours, and about to be stopped anyway).
            if (Signals.SetNice(hogs[0].Pid, -1) is var errno and not 0)
            {
                throw new InvalidOperationException($"The CPU hog lowers the workers' priority and must raise it back afterwards, which needs root or CAP_SYS_NICE (setpriority failed with errno {errno}): run the fault tests as root.");
            }

            Signals.SetNice(hogs[0].Pid, 0);
            foreach (var pid in hogged.Select(w => w.Pid))
            {
                original[pid] = Signals.ThreadNices(pid).GetValueOrDefault(pid);
            }

            var until = _clock.Elapsed + duration;
            while (true)
            {
                foreach (var pid in original.Keys)
                {
                    foreach (var tid in Signals.ThreadNices(pid).Where(t => t.Value != HoggedNice).Select(t => t.Key))
                    {
                        Signals.SetIdleClass(tid, idle: true);
                        Signals.SetNice(tid, HoggedNice);
                    }
                }

                // Read once and checked here: a time left between -2 and -1 ms is Task.Delay's "infinite" (it truncates
                // to whole milliseconds), which left a soak's hog running for good after the pass above took a while.
                var left = until - _clock.Elapsed;
                if (left <= TimeSpan.Zero)
                {
                    break;
                }

                await Task.Delay(left < TimeSpan.FromMilliseconds(100) ? left : TimeSpan.FromMilliseconds(100));
            }
        }
        finally
        {
            foreach (var (pid, nice) in original)
            {
                foreach (var tid in Signals.ThreadNices(pid).Keys)
                {
                    var errno = Signals.SetIdleClass(tid, idle: false);
                    if (errno == 0)
                    {
                        errno = Signals.SetNice(tid, nice);
                    }

                    // ESRCH: the thread ended meanwhile.
                    if (errno is not 0 and not 3)
                    {
                        notRestored.Add($"thread {tid} of pid {pid} (errno {errno})");
                    }
                }
            }

            foreach (var hog in hogs)
            {
                hogCpu += HogCpuSeconds(hog);
                await hog.DisposeAsync();
            }
        }

        var to = await RedisMicrosAsync();
        if (notRestored.Count > 0)
        {
            _ineffective.Enqueue($"CPU hog: the workers' priority could not be put back for {string.Join(", ", notRestored.Take(5))}");
        }

        // The hog bit when it ran busy: together the hogs used at least half a core for the duration, taken from the
        // workers (measured: 4.9 CPU seconds in 8 s beside three workers on 2 cores).
        var neededCpu = 0.5 * duration.TotalSeconds;
        if (hogCpu < neededCpu)
        {
            _ineffective.Enqueue(string.Create(CultureInfo.InvariantCulture, $"CPU hog: the hogs used {hogCpu:0.0} CPU seconds, less than half a core for the duration ({neededCpu:0.0} s)"));
        }

        // And it starved a worker: one of the hogged workers' sessions went unrenewed for more than 1.5 renew intervals,
        // in the MONITOR log on Redis' clock; a session starved past its deadline counts until that deadline (see
        // LeaseMonitor.LongestRenewalSilence).
        var (silenceMs, session) = Monitor.LongestRenewalSilence(from, to, OfHogged);
        var worker = session is null ? null : names.First(n => session.Split('|')[0].EndsWith(n, StringComparison.Ordinal));
        _hogRenewalGaps.Enqueue(silenceMs);
        if (silenceMs <= lateMs)
        {
            _ineffective.Enqueue(string.Create(CultureInfo.InvariantCulture, $"CPU hog: no session of {string.Join(", ", names)} went unrenewed for more than 1.5 renew intervals ({lateMs:0} ms): the longest silence was {silenceMs:0} ms ({worker ?? "no session"}{(session is null ? "" : $", session {session}")})"));
        }

        Ended(string.Create(CultureInfo.InvariantCulture, $"CPU hog stopped; the hogs used {hogCpu:0.0} CPU seconds; longest renewal silence during it {silenceMs:0} ms ({worker}, session {session}; late above {lateMs:0} ms)"));
    }

    /// <summary>The nice value of the workers' threads while a CPU hog runs: the lowest priority.</summary>
    private const int HoggedNice = 19;

    /// <summary>CPU seconds (user + system) a running hog has used, from /proc/&lt;pid&gt;/stat (clock ticks of 1/100 s).</summary>
    private static double HogCpuSeconds(ChildProcess hog)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{hog.Pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // After "pid (comm) ", field 3 is the state; utime and stime are fields 14 and 15 of the whole line.
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    // ---- Outcome ------------------------------------------------------------------------------------------------

    /// <summary>
    /// Waits for the producer, then for the drain (no LBS entry left, nothing pending) within
    /// <see cref="ScenarioSettings.DrainDeadline"/> of the later of the last fault's end and the last <c>end</c>
    /// written; checks the streams <paramref name="checkedStreams"/> selects (all by default) and prints the figures.
    /// </summary>
    public async Task<Outcome> FinishAsync(Func<ProducedStream, bool>? checkedStreams = null, Func<string>? lossReport = null)
    {
        var production = _production ?? throw new InvalidOperationException("StartProducing was not called.");
        var producerDeadline = Settings.Plan.AnnounceOver + Settings.Plan.EntryInterval * Settings.Plan.MaxEntries + TimeSpan.FromSeconds(120);
        Assert.That(await Task.WhenAny(production, Task.Delay(producerDeadline)), Is.SameAs(production), $"the producer finished within {producerDeadline.TotalSeconds:0} s");
        await production;

        var quietFrom = _lastFaultEnded > Producer.FinishedAt ? _lastFaultEnded : Producer.FinishedAt;
        var drainedAt = TimeSpan.Zero;
        var drained = await IntegrationTests.Infrastructure.Eventually.TrueAsync(async () =>
        {
            var db = Admin.GetDatabase();
            try
            {
                var left = 0L;
                for (var p = 0; p < Keys.Count; p++)
                {
                    left += await db.StreamLengthAsync(Keys.Lbs[p]);
                    left += (await db.StreamPendingAsync(Keys.Lbs[p], Keys.Group)).PendingMessageCount;
                }

                drainedAt = _clock.Elapsed;
                return left == 0;
            }
            catch (RedisException)
            {
                return false;
            }
        }, quietFrom + Settings.DrainDeadline - _clock.Elapsed);

        var selected = Producer.Streams.Where(checkedStreams ?? (_ => true)).ToList();
        var outcome = await Outcome.CheckAsync(Admin.GetDatabase(), Keys, selected, Monitor);
        outcome.Failures.AddRange(_ineffective.Select(f => "Fault without effect: " + f));
        await JudgeTargetsAsync(outcome, selected);
        var exclusivity = outcome.Exclusivity;
        var afterFault = drained ? Math.Max(0, (drainedAt - _lastFaultEnded).TotalSeconds) : double.NaN;
        var afterEnd = drained ? Math.Max(0, (drainedAt - Producer.FinishedAt).TotalSeconds) : double.NaN;
        var line = string.Create(CultureInfo.InvariantCulture,
            $"FIGURES | {Settings.Name,-22} | streams {selected.Count}/{Producer.Streams.Count} checked | entries {Producer.EntriesWritten} | faults {Faults} | leases granted {outcome.Grants} | takeovers {outcome.Grants - outcome.Summaries} | dead-lettered {outcome.DeadLettered.Count} | producer retries {Producer.Retries} | stale summaries fenced {_workers.Sum(w => w.CountLines(FencedWriteLog))} | lease-checked writes accepted {exclusivity.CheckedWritesAccepted}, refused {exclusivity.WritesRefused} (stale token {exclusivity.StaleWritesRefused}) | late calls of dead sessions refused {exclusivity.LateSessionCallsRefused} | faulted workers' streams taken over {outcome.Targets.Sum(t => t.TakenOver)}/{outcome.Targets.Sum(t => t.Checked)} | faulted workers' late calls refused {outcome.Targets.Sum(t => t.Refused.LateCalls)}, stale writes refused {outcome.Targets.Sum(t => t.Refused.StaleWrites)} | longest renewal silence under CPU hog {(_hogRenewalGaps.IsEmpty ? "-" : _hogRenewalGaps.Max().ToString("0", CultureInfo.InvariantCulture) + " ms")} | revived sessions {exclusivity.RevivedSessions.Count} | overlapping owners {exclusivity.OverlappingGrants.Count} | stale writes accepted {exclusivity.StaleWritesAccepted.Count} | failed attempts counted {_workers.Sum(w => w.CountLines(FailedAttemptLog))} | drained {afterFault:0.00} s after the last fault ended, {afterEnd:0.00} s after the last end written | run {_clock.Elapsed.TotalSeconds:0.0} s |");
        Figures.Add(line);
        TestContext.Out.WriteLine(line);
        foreach (var entry in _faultLog)
        {
            TestContext.Out.WriteLine("  " + entry);
        }

        foreach (var report in outcome.Targets)
        {
            TestContext.Out.WriteLine("  target " + report);
        }

        TestContext.Out.WriteLine($"  lease monitor: {Monitor.GrantsSeen} grants seen in all{(Keys.Count > 1 ? $" ({string.Join(", ", Monitor.GrantsByPartition.Select((n, p) => $"partition {p}: {n}"))})" : "")}, {Monitor.Reconnects} reconnects, gaps (tokens between): {(Monitor.Gaps.Count == 0 ? "none" : string.Join(", ", Monitor.Gaps.Select(g => $"{(Keys.Count > 1 ? $"p{g.Partition} " : "")}{g.After}..{(g.Before == long.MaxValue ? "open" : g.Before.ToString(CultureInfo.InvariantCulture))}")))}");
        if (lossReport is not null)
        {
            TestContext.Out.WriteLine("  LOST (reported, not checked): " + lossReport());
        }

        foreach (var letter in outcome.DeadLettered)
        {
            TestContext.Out.WriteLine("  DEAD-LETTERED: " + letter);
        }

        if (!drained)
        {
            outcome.Failures.Insert(0, $"Not drained within {Settings.DrainDeadline.TotalSeconds:0} s after the faults stopped (quiet from {quietFrom.TotalSeconds:0.0} s).");
        }

        foreach (var worker in _workers.Where(w => !w.IsRunning))
        {
            outcome.Failures.Add($"{worker.Name} exited by itself (code {worker.ExitCode}):{Environment.NewLine}{worker.Tail()}");
        }

        if (outcome.Failures.Count > 0)
        {
            foreach (var worker in _workers)
            {
                TestContext.Out.WriteLine($"--- {worker.Name} (log {worker.LogPath}):{Environment.NewLine}{worker.Tail(30)}");
            }
        }

        return outcome;
    }

    /// <summary>
    /// For each worker a fault hit: every stream it owned then (among the checked ones) was taken over by another
    /// session, and what Redis refused of its sessions' late calls is counted for the scenario to assert.
    /// </summary>
    private async Task JudgeTargetsAsync(Outcome outcome, IReadOnlyCollection<ProducedStream> selected)
    {
        var byId = selected.Where(s => s.LbsId is not null).ToDictionary(s => s.LbsId!, StringComparer.Ordinal);
        var db = Admin.GetDatabase();
        var summaryTokens = new Dictionary<string, long?>(StringComparer.Ordinal);
        foreach (var id in _targets.SelectMany(t => t.Streams.Keys).Distinct().Where(byId.ContainsKey))
        {
            var token = await db.HashGetAsync($"{Service}:summary:{byId[id].Name}", "token");
            summaryTokens[id] = token.IsNull ? null : (long)token;
        }

        foreach (var target in _targets)
        {
            var missing = target.NotTakenOver(Monitor.GrantsOf, id => summaryTokens.GetValueOrDefault(id), byId.ContainsKey);
            var refused = target.Sessions.Select(Monitor.RefusedFor).Aggregate(new LeaseMonitor.SessionRefusals(0, 0), (a, b) => new(a.StaleWrites + b.StaleWrites, a.LateCalls + b.LateCalls));
            outcome.Targets.Add(new TargetReport(target, target.Streams.Keys.Count(byId.ContainsKey), missing, refused));
            outcome.Failures.AddRange(missing.Select(m => $"Not taken over after {target.Fault} of {target.Worker}: {m}"));
        }
    }

    /// <summary>The figures lines of every scenario run in this test process.</summary>
    public static List<string> Figures { get; } = [];

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_production is not null)
        {
            await _production.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        await Task.WhenAll(_workers.Select(w => w.StopAsync(TimeSpan.FromSeconds(10))));
        foreach (var worker in _workers)
        {
            await worker.DisposeAsync();
        }

        if (Proxy is not null)
        {
            await Proxy.DisposeAsync();
        }

        await Monitor.DisposeAsync();
        await Admin.DisposeAsync();
        await Redis.DisposeAsync();
        _stop.Dispose();
    }

    private static ChildProcess NewWorker(string dll, string service, string podName, int port, ScenarioSettings settings, string logDirectory)
    {
        var environment = new Dictionary<string, string>
        {
            ["RecoverableStreams__ServiceName"] = service,
            // FAULT_WORKER_REDIS_OPTIONS appends StackExchange.Redis options (e.g. connectTimeout=1000) to try their effect.
            ["ConnectionStrings__Redis"] = $"127.0.0.1:{port},abortConnect=false,allowAdmin=true"
                + (Environment.GetEnvironmentVariable("FAULT_WORKER_REDIS_OPTIONS") is { Length: > 0 } extra ? "," + extra : ""),
            ["RecoverableStreams__LeaseDuration"] = settings.LeaseDuration.ToString("c", CultureInfo.InvariantCulture),
            ["RecoverableStreams__SweepInterval"] = settings.SweepInterval.ToString("c", CultureInfo.InvariantCulture),
            ["RecoverableStreams__MaxConcurrentStreams"] = settings.MaxConcurrentStreams.ToString(CultureInfo.InvariantCulture),
            ["RecoverableStreams__Partitions"] = settings.Partitions.ToString(CultureInfo.InvariantCulture),
            ["POD_NAME"] = podName,
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["Logging__Console__FormatterName"] = "simple",
        };
        if (settings.MaxDeliveryAttempts is { } attempts)
        {
            environment["RecoverableStreams__MaxDeliveryAttempts"] = attempts.ToString(CultureInfo.InvariantCulture);
        }

        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        // The worker's directory is its content root (appsettings.json); the environment overrides it.
        return new ChildProcess(podName, dotnet, [dll], environment, Path.Combine(logDirectory, podName + ".log"), Path.GetDirectoryName(dll));
    }

    /// <summary>Waits (by condition) until every worker has a fresh heartbeat in the consumers registry (after a restart of Redis).</summary>
    public Task WaitForAllWorkersLiveAsync(TimeSpan timeout) => WaitForLiveConsumersAsync(Settings.Workers, timeout);

    private async Task WaitForLiveConsumersAsync(int count, TimeSpan timeout)
    {
        var live = await IntegrationTests.Infrastructure.Eventually.TrueAsync(async () =>
        {
            var time = (RedisResult[])(await Admin.GetDatabase().ExecuteAsync("TIME"))!;
            var nowMs = (long)time[0] * 1000 + (long)time[1] / 1000;
            // A session's score is its deadline: live while it is in the future. A consumer opens its session in every
            // partition, so each partition's sessions key shows it: this also proves ServiceKeys names the workers' keys.
            for (var p = 0; p < Keys.Count; p++)
            {
                var members = await Admin.GetDatabase().SortedSetRangeByScoreWithScoresAsync(Keys.Sessions(p));
                if (members.Count(m => m.Score > nowMs) < count)
                {
                    return false;
                }
            }

            return true;
        }, timeout);
        if (!live)
        {
            foreach (var worker in _workers)
            {
                TestContext.Out.WriteLine($"--- {worker.Name} running {worker.IsRunning}:{Environment.NewLine}{worker.Tail()}");
            }
        }

        Assert.That(live, Is.True, $"{count} workers registered as live consumers (in each of {Keys.Count} partition(s): {string.Join(", ", Keys.Lbs)}) within {timeout.TotalSeconds:0} s");
    }

    /// <summary>
    /// A fault aimed at a worker should hit one that is at work: wait (by condition, up to 30 s) until it holds a few
    /// leases. Best effort: near the end of a long run there may be no work left; the fault log shows what it owned.
    /// </summary>
    private async Task WaitUntilOwningAsync(string podName, int streams = 3) =>
        await IntegrationTests.Infrastructure.Eventually.TrueAsync(async () => await OwnedByAsync(podName) >= streams, TimeSpan.FromSeconds(30));

    /// <summary>How many streams the target owns as it is hit; a fault on a target that owns none proves nothing.</summary>
    private async Task<FaultTarget> TargetAsync(string fault, string podName)
    {
        var target = FaultTarget.FromRecords(fault, podName, await OwnerRecordsAsync());
        if (target.Streams.Count == 0)
        {
            _ineffective.Enqueue($"{fault} of {podName}: it owned no stream when hit");
        }

        _targets.Enqueue(target);
        return target;
    }

    /// <summary>The fault lasted long enough: each of the target's sessions is dead in Redis (gone, or its deadline passed).</summary>
    private async Task ExpectSessionsDeadAsync(FaultTarget target)
    {
        var db = Admin.GetDatabase();
        var now = await RedisMicrosAsync() / 1000;
        foreach (var session in target.Sessions)
        {
            // Its deadline in every partition: each partition's scripts check their own.
            for (var p = 0; p < Keys.Count; p++)
            {
                var deadline = await db.SortedSetScoreAsync(Keys.Sessions(p), session);
                if (deadline is { } ms && ms > now)
                {
                    _ineffective.Enqueue($"{target.Fault} of {target.Worker}: its session {session} was still live in Redis at the end of the fault ({ms - now:0} ms left{(Keys.Count > 1 ? $" in partition {p}" : "")})");
                }
            }
        }
    }

    /// <summary>Redis' clock (µs), the clock of MONITOR's timestamps.</summary>
    private async Task<long> RedisMicrosAsync()
    {
        var time = (RedisResult[])(await Admin.GetDatabase().ExecuteAsync("TIME"))!;
        return (long)time[0] * 1_000_000 + (long)time[1];
    }

    private async Task<int> OwnedByAsync(string podName)
    {
        try
        {
            return (await OwnerRecordsAsync()).Count(r => r.Value.Split('|')[0].EndsWith(podName, StringComparison.Ordinal));
        }
        catch (RedisException)
        {
            return 0;
        }
    }

    /// <summary>Every partition's ownership records: (id as applications see it, <c>consumer|suffix|token</c>).</summary>
    private async Task<List<(string Id, string Value)>> OwnerRecordsAsync()
    {
        var records = new List<(string Id, string Value)>();
        for (var p = 0; p < Keys.Count; p++)
        {
            records.AddRange((await Admin.GetDatabase().HashGetAllAsync(Keys.Owners(p))).Select(r => (Keys.IdOf(p, (string)r.Name!), (string)r.Value!)));
        }

        return records;
    }

    private void Fault(string description)
    {
        Interlocked.Increment(ref _faults);
        _faultLog.Enqueue($"{_clock.Elapsed.TotalSeconds,6:0.0} s  fault: {description}");
    }

    private void Ended(string description)
    {
        _lastFaultEnded = _clock.Elapsed;
        if (description.Length > 0)
        {
            _faultLog.Enqueue($"{_clock.Elapsed.TotalSeconds,6:0.0} s  ended: {description}");
        }
    }

    private static async Task WaitAsync(Func<bool> condition, TimeSpan timeout, string what) =>
        await IntegrationTests.Infrastructure.Eventually.AssertAsync(condition, timeout, what);
}

/// <summary>
/// Finds the built worker under the repository root, in the same configuration as these tests: the sample worker, or
/// with <c>FAULT_WORKER=core</c> the core-only worker; <c>FAULT_WORKER_DLL</c> names any other build.
/// </summary>
internal static class WorkerLocation
{
    public const string Project = "RecoverableStreams.Samples.Worker";

    /// <summary>The same contract on the core client alone (<c>FAULT_WORKER=core</c>): tells a core bug from a hosting bug.</summary>
    public const string CoreProject = "RecoverableStreams.FaultTests.CoreWorker";

    /// <param name="project">A worker project by name (the checker always runs the core worker); null: the sample worker or FAULT_WORKER's choice.</param>
    public static string Find(string? project = null)
    {
        if (project is null && Environment.GetEnvironmentVariable("FAULT_WORKER_DLL") is { Length: > 0 } overridden)
        {
            return overridden;
        }

        var configuration = typeof(WorkerLocation).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
        project ??= Environment.GetEnvironmentVariable("FAULT_WORKER") == "core" ? CoreProject : Project;
        var folder = project == CoreProject ? "tests" : "samples";
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "RecoverableStreams.Hosting.sln")))
        {
            root = root.Parent;
        }

        if (root is null)
        {
            throw new InvalidOperationException("The repository root (RecoverableStreams.Hosting.sln) was not found above " + AppContext.BaseDirectory);
        }

        var dll = Path.Combine(root.FullName, folder, project, "bin", configuration, "net10.0", project + ".dll");
        return File.Exists(dll)
            ? dll
            : throw new InvalidOperationException($"The sample worker is not built: {dll} (build the solution in {configuration}, or set FAULT_WORKER_DLL).");
    }
}
