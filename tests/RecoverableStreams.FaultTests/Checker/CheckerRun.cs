using System.Globalization;
using RecoverableStreams.Administration;
using RecoverableStreams.FaultTests.Infrastructure;
using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.FaultTests.Checker;

/// <summary>
/// One randomized run: a Redis with AOF, consumer processes (the CoreWorker in checker mode), each behind its own TCP
/// proxy, a producer announcing streams, and a nemesis choosing faults from the seed: crash (SIGKILL), freeze
/// (SIGSTOP/SIGCONT), partition (black-hole), Redis restart, join (a new process), leave (SIGTERM). In the Sentinel
/// topology the consumers connect through the sentinels, and Sentinel failovers take the place of partitions and
/// Redis restarts (<see cref="CheckerSentinel"/>). Then the faults stop, everything heals, and after a quiet period the
/// histories are gathered and checked.
/// </summary>
internal sealed class CheckerRun : IAsyncDisposable
{
    private readonly CheckerSettings _settings;
    private readonly Random _random;
    private readonly string _service;
    private readonly string _directory;
    private readonly List<Slot> _slots = [];
    private readonly HistoryLog _nemesis;
    private readonly Dictionary<HistoryOp, int> _faults = [];
    private FaultRedis? _redis;
    private CheckerSentinel? _sentinel;
    private ConnectionMultiplexer? _admin;
    private int _announced;

    private CheckerRun(CheckerSettings settings, string directory)
    {
        _settings = settings;
        _random = new Random(settings.Seed);
        _service = "chk-" + settings.Seed.ToString(CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..6];
        _directory = directory;
        _nemesis = new HistoryLog(Path.Combine(directory, "nemesis.jsonl"), "nemesis");
    }

    /// <summary>Where the histories and the worker logs are.</summary>
    public string Directory => _directory;

    public RecoverableStreamOptions Options => new() { ServiceName = _service };

    public static async Task<CheckerResult> RunAsync(CheckerSettings settings)
    {
        var directory = Path.Combine(TestContext.CurrentContext.WorkDirectory, "checker-logs", $"seed-{settings.Seed}-{DateTime.UtcNow:HHmmss}");
        System.IO.Directory.CreateDirectory(directory);
        await using var run = new CheckerRun(settings, directory);
        return await run.ExecuteAsync();
    }

    private async Task<CheckerResult> ExecuteAsync()
    {
        if (_settings.Topology == CheckerTopology.Sentinel)
        {
            _sentinel = await CheckerSentinel.StartAsync();
            _admin = await _sentinel.ConnectAdminAsync();
        }
        else
        {
            _redis = await FaultRedis.StartAsync(appendOnly: true);
            _admin = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{_redis.Port},allowAdmin=true,abortConnect=false,connectRetry=5,syncTimeout=5000,asyncTimeout=5000,connectTimeout=2000");
        }

        for (var i = 0; i < _settings.InitialWorkers; i++)
        {
            StartSlot(NewSlot());
        }

        using var stopAnnouncing = new CancellationTokenSource();
        var announcing = AnnounceAsync(new Random(_settings.Seed ^ 0x5eed), stopAnnouncing.Token);
        var until = DateTime.UtcNow + _settings.Duration;
        // The first faults wait until streams are owned.
        await Task.Delay(TimeSpan.FromSeconds(2));
        while (DateTime.UtcNow < until)
        {
            await NemesisStepAsync();
            await Task.Delay(TimeSpan.FromMilliseconds(_random.Next(200, 1200)));
        }

        await stopAnnouncing.CancelAsync();
        await announcing;
        HealAll();
        if (_sentinel is not null)
        {
            // The drain starts from a healthy group: the last failover's old primary replicates again.
            await _sentinel.WaitHealthyAsync();
        }

        var drained = await Eventually.TrueAsync(async () =>
        {
            try
            {
                var status = await new RecoverableStreamsAdmin(_admin, Options).GetStatusAsync();
                return status.EntriesInLbs == 0 && status.Owned == 0;
            }
            catch (RecoverableStreamsException)
            {
                return false;
            }
        }, _settings.QuietPeriod);

        foreach (var slot in _slots)
        {
            if (slot.Process is { IsRunning: true } process)
            {
                await process.StopAsync(TimeSpan.FromSeconds(10));
                Record(HistoryOp.Leave, slot.Name);
            }
        }

        var stillInLbs = await ReadLbsStreamsAsync();
        var history = System.IO.Directory.EnumerateFiles(_directory, "*.jsonl").SelectMany(HistoryLog.Read).ToList();
        var violations = HistoryChecker.Check(history, stillInLbs);
        return new CheckerResult(_settings, history, violations, drained, _faults, _announced, _directory);
    }

    private async Task AnnounceAsync(Random random, CancellationToken cancellationToken)
    {
        var publisher = new StreamPublisher(_admin!, Options);
        while (!cancellationToken.IsCancellationRequested)
        {
            var batch = random.Next(1, 4);
            for (var i = 0; i < batch; i++)
            {
                var stream = $"{_service}:s{_announced:D4}";
                var id = _nemesis.NextId();
                _nemesis.Write(HistoryLog.Now(), id, HistoryOp.Announce, HistoryPhase.Invoke, stream);
                try
                {
                    var entry = await publisher.AddStreamAsync(stream, cancellationToken: CancellationToken.None);
                    _nemesis.Write(HistoryLog.Now(), id, HistoryOp.Announce, HistoryPhase.Ok, stream, detail: entry);
                }
                catch (Exception ex) when (ex is RedisException or RecoverableStreamsException or TimeoutException)
                {
                    _nemesis.Write(HistoryLog.Now(), id, HistoryOp.Announce, HistoryPhase.Unknown, stream, detail: ex.GetType().Name);
                }

                _announced++;
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(random.Next(100, 600)), cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task NemesisStepAsync()
    {
        var running = _slots.Where(s => s.Process is { IsRunning: true }).ToList();
        // The broken consumer's self-test needs faults that take streams from a live process: freezes and partitions.
        var roll = _settings.BrokenConsumer ? _random.Next(22, 66) : _random.Next(100);
        var target = running.Count > 0 ? running[_random.Next(running.Count)] : null;
        // Faults last from half a lease to three leases: shorter ones must not cost ownership, longer ones must.
        var span = TimeSpan.FromMilliseconds(_settings.Lease.TotalMilliseconds * (_settings.BrokenConsumer ? 1.5 + _random.NextDouble() : 0.5 + (2.5 * _random.NextDouble())));
        if (roll < 22 && target is not null)
        {
            Count(HistoryOp.Crash);
            Record(HistoryOp.Crash, target.Name);
            await target.Process!.KillAsync();
            await Task.Delay(span);
            StartSlot(target);
        }
        else if (roll < 44 && target is not null)
        {
            Count(HistoryOp.Freeze);
            Record(HistoryOp.Freeze, target.Name, $"{span.TotalMilliseconds:0} ms");
            target.Process!.Freeze();
            await Task.Delay(span);
            target.Process.Thaw();
            Record(HistoryOp.Thaw, target.Name);
        }
        else if (roll < 66 && _sentinel is not null)
        {
            // A third of the failovers kill the primary: the longer outage (detection, election, a resync from scratch).
            await FailoverAsync(_sentinel, roll < 58 ? FailoverKind.Planned : FailoverKind.KillPrimary);
        }
        else if (roll < 66 && target?.Proxy is { } proxy)
        {
            Count(HistoryOp.Partition);
            Record(HistoryOp.Partition, target.Name, $"{span.TotalMilliseconds:0} ms");
            proxy.Blackhole();
            await Task.Delay(span);
            proxy.Heal();
            Record(HistoryOp.Heal, target.Name);
        }
        else if (roll < 74 && _redis is not null)
        {
            Count(HistoryOp.RestartRedis);
            Record(HistoryOp.RestartRedis, "redis", "kill -9, AOF kept");
            await _redis!.KillAndRestartAsync(keepData: true, TimeSpan.FromMilliseconds(_random.Next(200, 1000)));
            Record(HistoryOp.RestartRedis, "redis", "answers again");
        }
        else if (roll < 87 && running.Count < _settings.MaxWorkers)
        {
            Count(HistoryOp.Join);
            var slot = _slots.FirstOrDefault(s => s.Process is not { IsRunning: true }) ?? NewSlot();
            StartSlot(slot);
        }
        else if (running.Count > 2 && target is not null)
        {
            Count(HistoryOp.Leave);
            Record(HistoryOp.Leave, target.Name, "SIGTERM");
            await target.Process!.StopAsync(TimeSpan.FromSeconds(10));
        }
    }

    /// <summary>
    /// A failover, recorded as an operation: the invoke (once the group is healthy, so its time is the fault's start)
    /// names the kind, the ok carries the <see cref="PrimaryMove"/> the sentinels confirmed (fail when the primary did
    /// not move).
    /// </summary>
    private async Task FailoverAsync(CheckerSentinel sentinel, FailoverKind kind)
    {
        Count(HistoryOp.Failover);
        await sentinel.WaitHealthyAsync();
        var id = _nemesis.NextId();
        _nemesis.Write(HistoryLog.Now(), id, HistoryOp.Failover, HistoryPhase.Invoke, detail: kind.ToString());
        var move = await sentinel.FailoverAsync(kind);
        _nemesis.Write(HistoryLog.Now(), id, HistoryOp.Failover, move.Moved ? HistoryPhase.Ok : HistoryPhase.Fail, detail: move.ToString());
    }

    private void HealAll()
    {
        foreach (var slot in _slots)
        {
            slot.Proxy?.Heal();
            if (slot.Process is { IsFrozen: true } frozen)
            {
                frozen.Thaw();
            }
        }

        // At least the initial number of consumers run the drain.
        foreach (var slot in _slots.Where(s => s.Process is not { IsRunning: true }).Take(Math.Max(0, _settings.InitialWorkers - _slots.Count(s => s.Process is { IsRunning: true }))))
        {
            StartSlot(slot);
        }
    }

    private Slot NewSlot()
    {
        // A proxy per consumer in front of the one Redis; none in the Sentinel topology (see CheckerSentinel).
        var slot = new Slot(_slots.Count, _redis is null ? null : TcpProxy.Start(_redis.Port));
        _slots.Add(slot);
        return slot;
    }

    private void StartSlot(Slot slot)
    {
        slot.Starts++;
        var name = $"w{slot.Index}.{slot.Starts}";
        var environment = new Dictionary<string, string>
        {
            ["CHECKER_HISTORY"] = Path.Combine(_directory, name + ".jsonl"),
            ["CHECKER_PROCESS"] = name,
            ["CHECKER_SEED"] = _settings.Seed.ToString(CultureInfo.InvariantCulture),
            ["RecoverableStreams__ServiceName"] = _service,
            ["RecoverableStreams__LeaseDuration"] = _settings.Lease.ToString("c", CultureInfo.InvariantCulture),
            ["RecoverableStreams__SweepInterval"] = TimeSpan.FromMilliseconds(_settings.Lease.TotalMilliseconds / 2).ToString("c", CultureInfo.InvariantCulture),
            // The command timeout below the lease: a black-holed call gives up instead of outliving the session.
            ["ConnectionStrings__Redis"] = _sentinel?.WorkerConnectionString
                ?? $"127.0.0.1:{slot.Proxy!.Port},abortConnect=false,connectTimeout=1000,syncTimeout=1500,asyncTimeout=1500",
        };
        if (_settings.BrokenConsumer)
        {
            environment["CHECKER_BROKEN"] = "ignore-ownership";
        }

        var dll = WorkerLocation.Find(WorkerLocation.CoreProject);
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        slot.Process = new ChildProcess(name, dotnet, [dll], environment, Path.Combine(_directory, name + ".log"), Path.GetDirectoryName(dll));
        Record(HistoryOp.Join, name);
        slot.Process.Start();
    }

    private async Task<IReadOnlySet<string>> ReadLbsStreamsAsync()
    {
        var status = await new RecoverableStreamsAdmin(_admin!, Options).GetStatusAsync();
        var entries = await _admin!.GetDatabase().StreamRangeAsync(status.LbsStreamKey);
        var prefix = _service + ":s";
        return entries
            .SelectMany(e => e.Values)
            .Select(v => (string?)v.Value ?? "")
            .SelectMany(text => System.Text.RegularExpressions.Regex.Matches(text, System.Text.RegularExpressions.Regex.Escape(prefix) + "[0-9]{4}").Select(m => m.Value))
            .ToHashSet(StringComparer.Ordinal);
    }

    private void Record(HistoryOp op, string target, string? detail = null) =>
        _nemesis.Write(HistoryLog.Now(), _nemesis.NextId(), op, HistoryPhase.Info, detail: detail is null ? target : target + " " + detail);

    private void Count(HistoryOp fault) => _faults[fault] = _faults.GetValueOrDefault(fault) + 1;

    public async ValueTask DisposeAsync()
    {
        foreach (var slot in _slots)
        {
            if (slot.Process is not null)
            {
                await slot.Process.DisposeAsync();
            }

            if (slot.Proxy is not null)
            {
                await slot.Proxy.DisposeAsync();
            }
        }

        _nemesis.Dispose();
        if (_admin is not null)
        {
            await _admin.DisposeAsync();
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        if (_sentinel is not null)
        {
            await _sentinel.DisposeAsync();
        }
    }

    private sealed class Slot(int index, TcpProxy? proxy)
    {
        public int Index { get; } = index;

        /// <summary>The consumer's proxy to the one Redis; null in the Sentinel topology.</summary>
        public TcpProxy? Proxy { get; } = proxy;

        public int Starts { get; set; }

        public ChildProcess? Process { get; set; }

        public string Name => $"w{Index}.{Starts}";
    }
}
