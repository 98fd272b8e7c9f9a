using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace RecoverableStreams.Demo;

/// <summary>
/// Polls Redis every 100 ms (owners of every stream), answers "when did this first become true" for the phase
/// timings, and prints one progress line a second: streams per consumer and how many completed.
/// </summary>
internal sealed class ProgressTracker(
    IConnectionMultiplexer redis,
    OwnershipMonitor monitor,
    TelemetryFeed feed,
    string service,
    Stopwatch clock,
    TextWriter output)
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);
    private readonly IDatabase _db = redis.GetDatabase();
    private readonly Lock _gate = new();
    private readonly List<(Func<OwnershipSnapshot, bool> Condition, TaskCompletionSource<TimeSpan> Done)> _watchers = [];
    private readonly HashSet<string> _completed = new(StringComparer.Ordinal);
    private TimeSpan? _lastPrint;

    public OwnershipSnapshot Latest { get; private set; } = new(TimeSpan.Zero, new Dictionary<string, string>());

    /// <summary>What the demo is doing, shown in the progress line.</summary>
    public string Phase { get; set; } = "starting";

    /// <summary>Consumers to list even when they own nothing (the workers of the demo).</summary>
    public IReadOnlyList<string> Consumers { get; set; } = [];

    public int CompletedCount
    {
        get
        {
            lock (_gate)
            {
                return _completed.Count;
            }
        }
    }

    /// <summary>LBS entries still in the stream (completed entries are deleted); -1 before the first read.</summary>
    public long LbsLength { get; private set; } = -1;

    public static string SummaryKey(string service, string dataStreamName) => $"{service}:summary:{dataStreamName}";

    /// <summary>Completes with the demo-clock time of the first snapshot, taken after this call, that satisfies the condition.</summary>
    public Task<TimeSpan> When(Func<OwnershipSnapshot, bool> condition)
    {
        var done = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            _watchers.Add((condition, done));
        }

        return done.Task;
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            await PollAsync(cancellationToken);
        }
        catch (Exception ex)
        {
            // Whoever waits for a condition learns that it will never be checked again.
            lock (_gate)
            {
                foreach (var watcher in _watchers)
                {
                    watcher.Done.TrySetException(ex);
                }

                _watchers.Clear();
            }

            throw;
        }
    }

    private async Task PollAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var next = Task.Delay(PollInterval, cancellationToken);
            try
            {
                var snapshot = await monitor.SnapshotAsync(clock);
                Latest = snapshot;
                lock (_gate)
                {
                    foreach (var watcher in _watchers.Where(w => w.Condition(snapshot)).ToList())
                    {
                        watcher.Done.TrySetResult(snapshot.At);
                        _watchers.Remove(watcher);
                    }
                }

                if (_lastPrint is null || clock.Elapsed - _lastPrint >= TimeSpan.FromSeconds(1))
                {
                    _lastPrint = clock.Elapsed;
                    await RefreshCompletionAsync();
                    output.WriteLine(ProgressLine(snapshot));
                }
            }
            catch (RedisException ex)
            {
                output.WriteLine($"[{Seconds(clock.Elapsed)}] (progress read failed: {ex.Message})");
            }

            try
            {
                await next;
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Re-reads which summaries exist and how long the LBS still is.</summary>
    public async Task RefreshCompletionAsync()
    {
        var pending = feed.Streams.Where(s => !_completed.Contains(s.Name)).ToList();
        var exists = await Task.WhenAll(pending.Select(s => _db.KeyExistsAsync(SummaryKey(service, s.Name))));
        lock (_gate)
        {
            for (var i = 0; i < pending.Count; i++)
            {
                if (exists[i])
                {
                    _completed.Add(pending[i].Name);
                }
            }
        }

        LbsLength = await _db.StreamLengthAsync(monitor.LbsKey);
    }

    public static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture).PadLeft(5) + "s";

    private string ProgressLine(OwnershipSnapshot snapshot)
    {
        var owners = Consumers.Select(c => $"{Short(c)}={snapshot.CountOwnedBy(c)}")
            .Concat(snapshot.Owners.Values.Distinct().Where(o => !Consumers.Contains(o)).Select(o => $"{Short(o)}={snapshot.CountOwnedBy(o)}"));
        var unowned = feed.Streams.Count(s => !snapshot.Owners.ContainsKey(s.IdInLbs) && !_completed.Contains(s.Name));
        return $"[{Seconds(snapshot.At)}] owners: {string.Join(' ', owners)} | unowned {unowned} | completed {CompletedCount}/{feed.Streams.Count} | {Phase}";
    }

    private static string Short(string consumerId) =>
        consumerId.StartsWith("redis-consumer-", StringComparison.Ordinal) ? consumerId["redis-consumer-".Length..] : consumerId;
}
