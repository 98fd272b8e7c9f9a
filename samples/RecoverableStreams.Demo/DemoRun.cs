using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace RecoverableStreams.Demo;

/// <summary>
/// The demo, start to end: a throwaway Redis, worker processes, a few hundred live streams, one worker killed
/// (SIGKILL) and one stopped (SIGTERM) mid-run, progress every second, and a report whose numbers are checked
/// against what was sent. Every wait is bounded by the overall timeout.
/// </summary>
internal sealed class DemoRun(DemoOptions options, TextWriter output)
{
    /// <summary>Rounds of data (a quarter second each) before the crash, so most streams have a checkpoint to resume from.</summary>
    private const int RoundsBeforeCrash = 12;

    private readonly Stopwatch _clock = new();
    private readonly List<string> _report = [];
    private readonly List<WorkerProcess> _workers = [];
    private bool _failed;

    /// <summary>Runs the demo; <paramref name="interrupted"/> (Ctrl+C, SIGTERM) ends it early, still cleaning up and reporting.</summary>
    public async Task<int> RunAsync(CancellationToken interrupted)
    {
        _clock.Start();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(interrupted);
        timeout.CancelAfter(options.Timeout);
        using var stopTracking = new CancellationTokenSource();
        var logDirectory = Directory.CreateTempSubdirectory("recoverable-streams-demo-logs-").FullName;
        var finishFeed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ThrowawayRedis? redis = null;
        ConnectionMultiplexer? connection = null;
        Task tracking = Task.CompletedTask;
        Task feeding = Task.CompletedTask;
        string? service = null;
        try
        {
            var workerDll = WorkerLocator.Find(options.WorkerPath);
            redis = await ThrowawayRedis.StartAsync(options.Redis, timeout.Token);
            Say($"Redis: {redis.Description}");
            connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);

            service = "demo-" + Guid.NewGuid().ToString("N")[..8];
            var streamOptions = new RecoverableStreamOptions { ServiceName = service };
            var monitor = new OwnershipMonitor(connection, streamOptions);
            var feed = new TelemetryFeed(connection, streamOptions);
            var tracker = new ProgressTracker(connection, monitor, feed, service, _clock, output);

            StartWorkers(workerDll, redis.ConnectionString, service, logDirectory);
            tracker.Consumers = [.. _workers.Select(w => w.ConsumerId)];
            Say($"Started {_workers.Count} workers (separate processes, lease {options.Lease.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s): " +
                string.Join(", ", _workers.Select(w => $"{w.PodName} pid {w.Pid}")));
            await WaitForWorkersAsync(monitor, timeout.Token);
            Say("All workers registered in the consumers registry.");

            tracking = tracker.RunAsync(stopTracking.Token);
            tracker.Phase = "announcing";
            await feed.AnnounceAsync(service, options.Streams, timeout.Token);
            Say($"Announced {feed.Streams.Count} streams on {monitor.LbsKey}; writing live data every 250 ms.");
            feeding = feed.RunAsync(options.MinEntries, finishFeed.Task, timeout.Token);

            tracker.Phase = "assigning";
            await tracker.When(s => feed.Streams.All(x => s.Owners.ContainsKey(x.IdInLbs))).WaitAsync(timeout.Token);
            tracker.Phase = "processing";
            while (feed.Rounds < RoundsBeforeCrash)
            {
                if (feeding.IsCompleted)
                {
                    await feeding; // throws what stopped it (Redis error, timeout)
                    throw new DemoFailureException("The producer stopped early.");
                }

                await Task.Delay(TimeSpan.FromMilliseconds(50), timeout.Token);
            }

            await CrashOneWorkerAsync(tracker, timeout.Token);
            await StopOneWorkerAsync(tracker, timeout.Token);

            tracker.Phase = "finishing: end entries written";
            finishFeed.TrySetResult();
            await feeding.WaitAsync(timeout.Token);
            Say($"Wrote {feed.Rounds} data entries and one end entry to every stream.");
            var allCompleted = WaitUntilCompletedAsync(tracker, feed.Streams.Count, timeout.Token);
            await allCompleted;
            await stopTracking.CancelAsync();
            await tracking;

            await VerifyAsync(connection, monitor, tracker, feed, service);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            Fail(interrupted.IsCancellationRequested
                ? "interrupted"
                : $"timed out after {options.Timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s");
        }
        catch (DemoFailureException ex)
        {
            Fail(ex.Message);
        }
        catch (Exception ex) when (ex is RedisException or InvalidOperationException or IOException or PlatformNotSupportedException)
        {
            Fail(ex.GetType().Name + ": " + ex.Message);
        }
        finally
        {
            finishFeed.TrySetResult();
            await stopTracking.CancelAsync();
            await Task.WhenAll(tracking, feeding).ContinueWith(_ => { }, TaskScheduler.Default);
            await StopWorkersAsync();
            if (connection is not null)
            {
                if (redis is { IsGiven: true } && service is not null)
                {
                    await RemoveKeysAsync(connection, service);
                }

                await connection.DisposeAsync();
            }

            if (redis is not null)
            {
                await redis.DisposeAsync();
            }
        }

        output.WriteLine();
        output.WriteLine("== Report");
        foreach (var line in _report)
        {
            output.WriteLine(line);
        }

        output.WriteLine($"total time:          {_clock.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s");
        if (_failed)
        {
            ShowWorkerLogs(logDirectory);
        }
        else
        {
            Directory.Delete(logDirectory, recursive: true);
        }

        output.WriteLine(_failed ? "RESULT: FAIL" : "RESULT: PASS");
        return _failed ? 1 : 0;
    }

    private void StartWorkers(string workerDll, string connectionString, string service, string logDirectory)
    {
        // Exactly what a Deployment sets: configuration through environment variables, identity from POD_NAME.
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__Redis"] = connectionString,
            ["RecoverableStreams__ServiceName"] = service,
            ["RecoverableStreams__LeaseDuration"] = options.Lease.ToString("c", CultureInfo.InvariantCulture),
            ["RecoverableStreams__SweepInterval"] = "00:00:01",
            // One survivor must be able to hold every stream once the other two are gone.
            ["RecoverableStreams__MaxConcurrentStreams"] = (options.Streams + 10).ToString(CultureInfo.InvariantCulture),
            ["HostOptions__ShutdownTimeout"] = "00:00:15",
            ["DOTNET_ENVIRONMENT"] = "Production",
        };
        for (var i = 1; i <= options.Workers; i++)
        {
            _workers.Add(WorkerProcess.Start(workerDll, $"demo-worker-{i}", environment, logDirectory));
        }
    }

    private async Task WaitForWorkersAsync(OwnershipMonitor monitor, CancellationToken cancellationToken)
    {
        var expected = _workers.Select(w => w.ConsumerId).ToList();
        while (true)
        {
            var exited = _workers.FirstOrDefault(w => w.HasExited);
            if (exited is not null)
            {
                throw new DemoFailureException($"{exited.PodName} exited during start-up with code {exited.ExitCode}; see {exited.LogPath}");
            }

            var live = await monitor.LiveConsumersAsync();
            if (expected.All(live.Contains))
            {
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
        }
    }

    private async Task CrashOneWorkerAsync(ProgressTracker tracker, CancellationToken cancellationToken)
    {
        var (victim, owned) = BusiestWorker(tracker);
        var firstClaim = tracker.When(s => owned.Any(id => TakenOverFrom(victim, s, id)));
        var allClaimed = tracker.When(s => owned.All(id => TakenOverFrom(victim, s, id)));

        var killedAt = _clock.Elapsed;
        victim.Kill();
        tracker.Phase = $"crash: SIGKILL {victim.PodName} ({owned.Count} streams), waiting for the lease to expire";
        Say($"SIGKILL {victim.PodName} (pid {victim.Pid}), which owned {owned.Count} streams.");
        var first = await firstClaim.WaitAsync(cancellationToken) - killedAt;
        tracker.Phase = $"crash: {victim.PodName}'s streams being claimed";
        var all = await allClaimed.WaitAsync(cancellationToken) - killedAt;
        Say($"All {owned.Count} streams of {victim.PodName} re-owned by the survivors.");
        _report.Add($"crash failover:      {victim.PodName} killed (SIGKILL) owning {owned.Count} streams: first claimed after {Ms(first)}, " +
                    $"all re-owned after {Ms(all)} (lease {options.Lease.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s, polled every 100 ms)");
    }

    private async Task StopOneWorkerAsync(ProgressTracker tracker, CancellationToken cancellationToken)
    {
        var (stopping, owned) = BusiestWorker(tracker);
        var allClaimed = tracker.When(s => owned.All(id => TakenOverFrom(stopping, s, id)));

        var stoppedAt = _clock.Elapsed;
        stopping.Terminate();
        tracker.Phase = $"graceful stop: SIGTERM {stopping.PodName} ({owned.Count} streams)";
        Say($"SIGTERM {stopping.PodName} (pid {stopping.Pid}), which owned {owned.Count} streams.");
        var all = await allClaimed.WaitAsync(cancellationToken) - stoppedAt;
        await stopping.WaitForExitAsync(cancellationToken);
        var exited = _clock.Elapsed - stoppedAt;
        Say($"All {owned.Count} streams of {stopping.PodName} re-owned; it exited with code {stopping.ExitCode}.");
        _report.Add($"graceful handover:   {stopping.PodName} stopped (SIGTERM) owning {owned.Count} streams: all re-owned after {Ms(all)}, " +
                    $"process exited after {Ms(exited)} with code {stopping.ExitCode}");
        if (stopping.ExitCode != 0)
        {
            _failed = true;
        }
    }

    private async Task WaitUntilCompletedAsync(ProgressTracker tracker, int streams, CancellationToken cancellationToken)
    {
        // The tracker refreshes completion once a second; the LBS is empty once every entry is completed (XACK + XDEL).
        while (!(tracker.CompletedCount == streams && tracker.LbsLength == 0))
        {
            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
        }
    }

    private async Task VerifyAsync(ConnectionMultiplexer connection, OwnershipMonitor monitor, ProgressTracker tracker, TelemetryFeed feed, string service)
    {
        await tracker.RefreshCompletionAsync();
        var db = connection.GetDatabase();
        var summaries = await Task.WhenAll(feed.Streams.Select(s => db.HashGetAllAsync(ProgressTracker.SummaryKey(service, s.Name))));
        var correct = 0;
        var wrong = new List<string>();
        var finishedBy = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < feed.Streams.Count; i++)
        {
            var sent = feed.Streams[i];
            var fields = summaries[i].ToDictionary(e => (string)e.Name!, e => (string?)e.Value, StringComparer.Ordinal);
            var sum = fields.GetValueOrDefault("sum");
            var count = fields.GetValueOrDefault("count");
            if (sum == sent.Sum.ToString(CultureInfo.InvariantCulture) && count == sent.Count.ToString(CultureInfo.InvariantCulture))
            {
                correct++;
            }
            else if (wrong.Count < 5)
            {
                wrong.Add($"{sent.Name}: sent sum {sent.Sum} count {sent.Count}, summary sum {sum ?? "-"} count {count ?? "-"}");
            }

            var owner = fields.GetValueOrDefault("owner") ?? "-";
            finishedBy[owner] = finishedBy.GetValueOrDefault(owner) + 1;
        }

        var pending = await db.StreamPendingAsync(monitor.LbsKey, monitor.GroupName);
        var deadLetters = await db.StreamLengthAsync("{" + monitor.LbsKey + "}:dead");
        var completed = tracker.CompletedCount;
        _report.Add($"streams completed:   {completed}/{feed.Streams.Count} (LBS entries left {tracker.LbsLength}, pending {pending.PendingMessageCount}, dead letters {deadLetters})");
        _report.Add($"sums verified:       {correct}/{feed.Streams.Count} correct (sum and count equal what was sent: {feed.Rounds} values per stream)");
        _report.Add($"finished by:         {string.Join(", ", finishedBy.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"))}");
        foreach (var line in wrong)
        {
            _report.Add("  wrong: " + line);
        }

        if (completed != feed.Streams.Count || correct != feed.Streams.Count || tracker.LbsLength != 0 || pending.PendingMessageCount != 0 || deadLetters != 0)
        {
            _failed = true;
        }
    }

    private async Task StopWorkersAsync()
    {
        foreach (var worker in _workers.Where(w => !w.HasExited))
        {
            try
            {
                worker.Terminate();
            }
            catch (Exception ex) when (ex is InvalidOperationException or PlatformNotSupportedException)
            {
                worker.Kill();
            }
        }

        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        foreach (var worker in _workers)
        {
            try
            {
                await worker.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                // DisposeAsync kills what is left.
            }

            await worker.DisposeAsync();
        }
    }

    /// <summary>Leaves a server the demo was given as it found it: every key of the run starts with its service name.</summary>
    private async Task RemoveKeysAsync(ConnectionMultiplexer connection, string service)
    {
        try
        {
            var db = connection.GetDatabase();
            foreach (var server in connection.GetServers().Where(s => s.IsConnected && !s.IsReplica))
            {
                foreach (var pattern in new[] { service + "*", "{" + service + "-input}*" })
                {
                    var keys = new List<RedisKey>();
                    await foreach (var key in server.KeysAsync(db.Database, pattern, pageSize: 1000))
                    {
                        keys.Add(key);
                    }

                    // One key per call: on a cluster the keys live in different slots.
                    await Task.WhenAll(keys.Select(k => db.KeyDeleteAsync(k)));
                }
            }
        }
        catch (RedisException ex)
        {
            output.WriteLine($"(could not remove the demo's keys from the given Redis: {ex.Message})");
        }
    }

    private void ShowWorkerLogs(string logDirectory)
    {
        output.WriteLine($"worker logs:         {logDirectory}");
        foreach (var worker in _workers)
        {
            if (!File.Exists(worker.LogPath))
            {
                continue;
            }

            output.WriteLine($"--- last lines of {worker.PodName}.log");
            foreach (var line in File.ReadLines(worker.LogPath).TakeLast(15))
            {
                output.WriteLine("    " + line);
            }
        }
    }

    /// <summary>The live worker that owns the most streams now, and those streams: the most telling one to stop.</summary>
    private (WorkerProcess Worker, HashSet<string> Owned) BusiestWorker(ProgressTracker tracker)
    {
        var now = tracker.Latest;
        var worker = _workers.Where(w => !w.HasExited).MaxBy(w => now.CountOwnedBy(w.ConsumerId))!;
        return (worker, now.OwnedBy(worker.ConsumerId).ToHashSet(StringComparer.Ordinal));
    }

    private static bool TakenOverFrom(WorkerProcess worker, OwnershipSnapshot snapshot, string id) =>
        snapshot.Owners.TryGetValue(id, out var owner) && owner != worker.ConsumerId;

    private void Fail(string reason)
    {
        _failed = true;
        _report.Add("failure:             " + reason);
    }

    private void Say(string message) => output.WriteLine($"[{ProgressTracker.Seconds(_clock.Elapsed)}] {message}");

    private static string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) + " ms";
}

/// <summary>A condition the demo checks failed; the message says which.</summary>
internal sealed class DemoFailureException(string message) : Exception(message);
