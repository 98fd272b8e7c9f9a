using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using RecoverableStreams;
using RecoverableStreams.FaultTests.Checker;
using StackExchange.Redis;

/// <summary>
/// The randomized checker's consumer (CHECKER_HISTORY set): an AutoClaim core client whose handler, for each granted
/// lease, records the grant, then makes a seeded random number of checkpoints and ends the stream one random way
/// (complete, release or dead-letter), recording each operation's invoke and outcome (ok, fail, unknown) in the history.
/// Before every operation it reads <see cref="StreamLease.IsOwned"/> after taking the timestamp, so every invoke is an
/// ownership observation no later than the one it records. CHECKER_BROKEN=ignore-ownership is the deliberately broken
/// consumer of the self-test: it never reads IsOwned and keeps going after its writes are refused.
/// </summary>
internal static class CheckerWorkload
{
    public static async Task<int> RunAsync(string historyPath)
    {
        var process = Environment.GetEnvironmentVariable("CHECKER_PROCESS") ?? "w?";
        var seed = int.Parse(Environment.GetEnvironmentVariable("CHECKER_SEED") ?? "1", CultureInfo.InvariantCulture);
        var broken = Environment.GetEnvironmentVariable("CHECKER_BROKEN") == "ignore-ownership";
        var options = new RecoverableStreamOptions
        {
            ServiceName = Environment.GetEnvironmentVariable("RecoverableStreams__ServiceName") ?? "checker",
            AutoClaim = true,
            LeaseDuration = TimeSpan.Parse(Environment.GetEnvironmentVariable("RecoverableStreams__LeaseDuration") ?? "00:00:02", CultureInfo.InvariantCulture),
            SweepInterval = TimeSpan.Parse(Environment.GetEnvironmentVariable("RecoverableStreams__SweepInterval") ?? "00:00:01", CultureInfo.InvariantCulture),
            MaxConcurrentStreams = 50,
        };

        using var stop = new CancellationTokenSource();
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });
        using var history = new HistoryLog(historyPath, process);
        using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.TimestampFormat = "HH:mm:ss.fff ").SetMinimumLevel(LogLevel.Information));
        var log = loggerFactory.CreateLogger("CheckerWorker");
        await using var redis = await ConnectionMultiplexer.ConnectAsync(Environment.GetEnvironmentVariable("ConnectionStrings__Redis") ?? "localhost:6379");
        var client = new RecoverableStreamClient(redis, options, loggerFactory);
        var notifications = await client.InitAsync(stop.Token);
        history.Write(HistoryLog.Now(), history.NextId(), HistoryOp.Join, HistoryPhase.Info, detail: client.ConsumerId);
        var work = new List<Task>();
        try
        {
            await foreach (var notification in notifications.ReadAllAsync(stop.Token))
            {
                if (notification.Type == StreamNotificationType.StreamAdded && notification.Lease is { } lease)
                {
                    work.RemoveAll(t => t.IsCompleted);
                    work.Add(Task.Run(() => HandleAsync(lease, history, seed, broken, log)));
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }

        await client.DisposeAsync();
        await Task.WhenAll(work);
        history.Write(HistoryLog.Now(), history.NextId(), HistoryOp.Leave, HistoryPhase.Info);
        return 0;
    }

    private static async Task HandleAsync(StreamLease lease, HistoryLog history, int seed, bool broken, ILogger log)
    {
        var stream = lease.DataStreamName;
        var token = lease.FencingToken;
        // The choices of one grant depend on the seed, the stream and the token only (not on the schedule).
        var random = new Random(HashCode.Combine(seed, StringComparer.Ordinal.GetHashCode(stream), token) ^ (int)(token >> 32));
        lease.OwnershipLost.Register(() => history.Write(HistoryLog.Now(), history.NextId(), HistoryOp.Lost, HistoryPhase.Info, stream, token, "OwnershipLost"));
        var now = HistoryLog.Now();
        if (!broken && !lease.IsOwned)
        {
            history.Write(now, history.NextId(), HistoryOp.Lost, HistoryPhase.Info, stream, token, "not owned at start");
            return;
        }

        history.Write(now, history.NextId(), HistoryOp.Own, HistoryPhase.Info, stream, token, lease.ConsumerId);
        // The broken consumer's handlers run longer, so that a freeze or a partition finds them in the middle of a run.
        var checkpoints = broken ? random.Next(8, 16) : random.Next(1, 6);
        for (var i = 0; i <= checkpoints; i++)
        {
            await Task.Delay(random.Next(20, 250));
            HistoryOp op;
            if (i < checkpoints)
            {
                op = HistoryOp.Checkpoint;
            }
            else
            {
                var last = random.Next(100);
                op = last < 8 ? HistoryOp.Release : last < 12 ? HistoryOp.DeadLetter : HistoryOp.Complete;
            }

            var outcome = await InvokeAsync(lease, op, i, history, broken, log);
            // An unknown outcome (Redis restarting, a connection cut) is retried while the lease lasts: a handler that
            // walked away from a lease it still holds would keep its stream from everybody (found by seed 3).
            while (outcome == HistoryPhase.Unknown && !broken && lease.IsOwned)
            {
                await Task.Delay(200);
                outcome = await InvokeAsync(lease, op, i, history, broken, log);
            }

            if (outcome is HistoryPhase.Fail or HistoryPhase.Unknown && !broken)
            {
                return;
            }
        }
    }

    private static async Task<HistoryPhase> InvokeAsync(StreamLease lease, HistoryOp op, int step, HistoryLog history, bool broken, ILogger log)
    {
        var stream = lease.DataStreamName;
        var token = lease.FencingToken;
        var id = history.NextId();
        // The timestamp first, then IsOwned: the recorded observation is never later than the real one.
        var invokedAt = HistoryLog.Now();
        if (!broken && !lease.IsOwned)
        {
            history.Write(invokedAt, id, HistoryOp.Lost, HistoryPhase.Info, stream, token, "IsOwned false before " + op);
            return HistoryPhase.Fail;
        }

        history.Write(invokedAt, id, op, HistoryPhase.Invoke, stream, token);
        HistoryPhase phase;
        string? detail = null;
        try
        {
            var operation = op switch
            {
                HistoryOp.Checkpoint => lease.CheckpointAsync($"0-{step + 1}", System.Text.Encoding.UTF8.GetBytes($"{token}:{step}")),
                HistoryOp.Complete => lease.CompleteAsync(),
                HistoryOp.Release => lease.ReleaseAsync(),
                HistoryOp.DeadLetter => lease.DeadLetterAsync("checker: random dead letter"),
                _ => throw new InvalidOperationException(op.ToString()),
            };
            await operation;
            phase = HistoryPhase.Ok;
        }
        catch (StreamOwnershipLostException ex)
        {
            // Refused: the script (or the local check before it) wrote nothing.
            phase = HistoryPhase.Fail;
            detail = ex.Message;
        }
        catch (Exception ex)
        {
            // A timeout or a broken connection: the write may or may not have been applied.
            phase = HistoryPhase.Unknown;
            detail = ex.GetType().Name + ": " + ex.Message;
            log.LogInformation("{Stream} {Op} unknown: {Error}", stream, op, detail);
        }

        history.Write(HistoryLog.Now(), id, op, phase, stream, token, detail);
        return phase;
    }
}
