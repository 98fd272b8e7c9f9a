using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Infrastructure;

/// <summary>
/// Streams flowing through in-process consumers, for the topology tests: each data stream holds
/// <see cref="EntriesPerStream"/> entries <c>v = 1..n</c> and an <c>end</c>; a consumer sums them in order, checkpoints
/// position + sum + count every five entries, at <c>end</c> writes <c>&lt;service&gt;:summary:&lt;name&gt;</c> unless a
/// higher fencing token is stored there, then completes the stream. A Redis error in a handler (a failover, a moved
/// slot) is retried from the last checkpoint while the lease is held; nothing is ever dead-lettered by the handler.
/// </summary>
internal sealed class StreamWorkload
{
    private readonly ConcurrentDictionary<string, ConcurrentQueue<DateTimeOffset>> _completions = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _handlerErrors = new();
    private readonly ConcurrentQueue<Task> _handlers = new();
    private readonly ConcurrentQueue<LeaseRun> _runs = new();
    private readonly List<string> _published = [];
    private int _leases;
    private int _resumed;
    private int _checkpoints;

    public StreamWorkload(string service, int entriesPerStream = 20, TimeSpan? entryDelay = null, int partitions = 1)
    {
        Service = service;
        Partitions = partitions;
        EntriesPerStream = entriesPerStream;
        EntryDelay = entryDelay ?? TimeSpan.FromMilliseconds(5);
    }

    public string Service { get; }

    /// <summary>The service's <see cref="RecoverableStreamOptions.Partitions"/>.</summary>
    public int Partitions { get; }

    /// <summary>What the consumers logged, to show in the test output how a fault looked from the library's side.</summary>
    public LogCapture Logs { get; } = new();

    public int EntriesPerStream { get; }

    /// <summary>How long a handler dwells on each entry, so streams are in flight when a fault hits.</summary>
    public TimeSpan EntryDelay { get; }

    public IReadOnlyList<string> Published
    {
        get
        {
            lock (_published)
            {
                return _published.ToList();
            }
        }
    }

    /// <summary>When each data stream was completed (CompleteStreamAsync returned), oldest first.</summary>
    public IReadOnlyDictionary<string, DateTimeOffset[]> Completions => _completions.ToDictionary(c => c.Key, c => c.Value.ToArray(), StringComparer.Ordinal);

    /// <summary>How many leases handlers were started for (grants and takeovers).</summary>
    public int Leases => Volatile.Read(ref _leases);

    /// <summary>How many handlers started from a checkpoint another lease (or an earlier try) wrote.</summary>
    public int Resumed => Volatile.Read(ref _resumed);

    /// <summary>Checkpoints written so far: progress, for waiting until traffic ran.</summary>
    public int Checkpoints => Volatile.Read(ref _checkpoints);

    /// <summary>Redis errors handlers retried through (what the fault looked like from the handlers' side).</summary>
    public IReadOnlyList<string> HandlerErrors => _handlerErrors.ToArray();

    /// <summary>The keys of the first partition (the only one unless <see cref="Partitions"/> &gt; 1).</summary>
    public StreamKeys Keys => Layout[0];

    /// <summary>Every partition's keys.</summary>
    public PartitionLayout Layout => PartitionLayout.For(Options("keys"));

    public RecoverableStreamOptions Options(string consumerId)
    {
        var options = TestOptions.For(Service, consumerId, lease: TimeSpan.FromSeconds(2), autoClaim: true);
        options.Partitions = Partitions;
        return options;
    }

    /// <summary>Starts a consumer that processes every stream it is granted.</summary>
    public async Task<TestConsumer> StartConsumerAsync(IConnectionMultiplexer redis, string consumerId)
    {
        // Notifications can come before StartAsync returns; handlers wait for the client they complete through.
        var client = new TaskCompletionSource<RecoverableStreamClient>(TaskCreationOptions.RunContinuationsAsynchronously);
        var consumer = await TestConsumer.StartAsync(redis, Options(consumerId), Logs.Factory, notification =>
        {
            if (notification.Type == StreamNotificationType.StreamAdded && notification.Lease is { } lease)
            {
                Interlocked.Increment(ref _leases);
                var run = new LeaseRun(lease.DataStreamName, consumerId, lease.FencingToken, System.Diagnostics.Stopwatch.GetTimestamp());
                // Registered before the handler starts: a lease already ended reports at once.
                lease.OwnershipLost.Register(() => run.Ended());
                _runs.Enqueue(run);
                _handlers.Enqueue(Task.Run(async () =>
                {
                    try
                    {
                        await ProcessAsync(redis, await client.Task, lease);
                    }
                    finally
                    {
                        run.Ended();
                    }
                }));
            }

            return Task.CompletedTask;
        });
        client.SetResult(consumer.Client);
        return consumer;
    }

    /// <summary>Writes the data of streams <c>first .. first + count - 1</c> and announces each, retrying through Redis errors.</summary>
    public async Task PublishAsync(IConnectionMultiplexer redis, int first, int count, TimeSpan? pause = null)
    {
        var publisher = new StreamPublisher(redis, Options("publisher"));
        var db = redis.GetDatabase();
        for (var i = first; i < first + count; i++)
        {
            var name = $"{Service}:data:{i}";
            await RetryAsync(async () =>
            {
                // Idempotent: the data is rewritten from scratch on a retry.
                await db.KeyDeleteAsync(name);
                for (var v = 1; v <= EntriesPerStream; v++)
                {
                    await db.StreamAddAsync(name, "v", v);
                }

                await db.StreamAddAsync(name, "end", 1);
            });
            // An announcement is retried only when its reply was an error before it was sent (connection down, MOVED
            // handled by the client); a lost reply would announce twice (issue 8 item 7), which the checks would see.
            await RetryAsync(() => publisher.AddStreamAsync(name));
            lock (_published)
            {
                _published.Add(name);
            }

            if (pause is { } p)
            {
                await Task.Delay(p);
            }
        }
    }

    /// <summary>The sum every stream must end with.</summary>
    public long ExpectedSum => (long)EntriesPerStream * (EntriesPerStream + 1) / 2;

    /// <summary>Every lease a handler was started for: the stream, its consumer and token, and when it ran.</summary>
    public IReadOnlyList<LeaseRun> Runs => _runs.ToArray();

    /// <summary>
    /// Waits until every published stream's LBS entry is gone (completed) and nothing is pending, then checks: no two
    /// leases of one stream were held at the same moment in this process (<see cref="Overlaps"/>: a handler started
    /// while an earlier lease of the stream had neither ended locally nor returned), each stream completed exactly
    /// once, its stored summary exact (sum and count), no dead letter. There is no exception for faults that lose
    /// acknowledged writes (a killed primary, a failover): a second completion or an overlap fails the test.
    /// </summary>
    public async Task AssertEveryStreamCompletedOnceAsync(IConnectionMultiplexer redis, TimeSpan timeout)
    {
        var db = redis.GetDatabase();
        var published = Published;
        long length = -1;
        long pending = -1;
        var done = await Eventually.TrueAsync(async () =>
        {
            try
            {
                length = 0;
                pending = 0;
                foreach (var keys in Layout.Partitions)
                {
                    length += await db.StreamLengthAsync(keys.Lbs);
                    pending += (await db.StreamPendingAsync(keys.Lbs, keys.Group)).PendingMessageCount;
                }

                return length == 0 && pending == 0 && published.All(_completions.ContainsKey);
            }
            catch (RedisException)
            {
                return false;
            }
        }, timeout);
        Assert.That(done, Is.True, $"Within {timeout.TotalSeconds:0} s every stream is completed (LBS length {length}, pending {pending}, completed {published.Count(_completions.ContainsKey)} of {published.Count}; handler errors: {string.Join(" | ", HandlerErrors.Take(5))})");

        Assert.That(Overlaps(Runs), Is.Empty, "no two leases of a stream were held at the same moment");
        var twice = Completions
            .Where(c => c.Value.Length > 1)
            .Select(c => $"{c.Key} x{c.Value.Length} at {string.Join(", ", c.Value.Select(t => t.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)))}")
            .ToList();
        Assert.That(twice, Is.Empty, "no stream is completed twice");
        var wrong = new List<string>();
        foreach (var name in published)
        {
            var summary = await db.HashGetAsync($"{Service}:summary:{name}", ["sum", "count"]);
            if ((long?)summary[0] != ExpectedSum || (long?)summary[1] != EntriesPerStream)
            {
                wrong.Add($"{name}: sum {summary[0]} count {summary[1]}");
            }
        }

        Assert.That(wrong, Is.Empty, $"every stream's summary is sum {ExpectedSum}, count {EntriesPerStream}");
        foreach (var keys in Layout.Partitions)
        {
            Assert.That(await db.StreamLengthAsync(keys.Dead), Is.Zero, $"no stream of {keys.Lbs} is dead-lettered");
        }
    }

    /// <summary>A one-line account of the run, for the test output.</summary>
    public string Describe() =>
        $"{Published.Count} streams x {EntriesPerStream} entries, {Leases} leases started, {Resumed} resumed from a checkpoint, {Completions.Values.Sum(c => c.Length)} completions, {Completions.Values.Count(c => c.Length > 1)} streams completed twice, {Overlaps(Runs).Count} overlapping leases, {HandlerErrors.Count} handler errors retried";

    /// <summary>The distinct warnings and errors the consumers logged (message shapes, with counts).</summary>
    public IEnumerable<string> LoggedProblems(int max) => Logs.Records
        .Where(r => r.Level >= Microsoft.Extensions.Logging.LogLevel.Warning)
        .GroupBy(r => r.EventId.Id + " " + r.EventId.Name + ": " + (r.Exception?.Message ?? r.Message))
        .OrderByDescending(g => g.Count())
        .Take(max)
        .Select(g => $"{g.Count()} x {g.Key}");

    private async Task ProcessAsync(IConnectionMultiplexer redis, RecoverableStreamClient client, StreamLease lease)
    {
        while (lease.IsOwned)
        {
            try
            {
                await ProcessOnceAsync(redis, client, lease);
                return;
            }
            catch (Exception ex) when (ex is OperationCanceledException or StreamOwnershipLostException)
            {
                return;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException or RecoverableStreamsException)
            {
                _handlerErrors.Enqueue($"{lease.DataStreamName}: {ex.GetType().Name}: {ex.Message}");
                await Task.Delay(TimeSpan.FromMilliseconds(100));
            }
        }
    }

    private async Task ProcessOnceAsync(IConnectionMultiplexer redis, RecoverableStreamClient client, StreamLease lease)
    {
        var token = lease.OwnershipLost;
        var checkpoint = await lease.GetCheckpointAsync(token);
        long sum = 0;
        long count = 0;
        if (checkpoint is not null && checkpoint.State.Length > 0)
        {
            var parts = Encoding.UTF8.GetString(checkpoint.State.Span).Split(':');
            sum = long.Parse(parts[0], CultureInfo.InvariantCulture);
            count = long.Parse(parts[1], CultureInfo.InvariantCulture);
            Interlocked.Increment(ref _resumed);
        }

        var position = checkpoint?.Position ?? "0-0";
        await foreach (var entry in lease.ReadEntriesAsync(position, 100, token))
        {
            if (!entry["end"].IsNull)
            {
                await redis.GetDatabase().ScriptEvaluateAsync(
                    """
                    local stored = redis.call('HGET', KEYS[1], 'token')
                    if stored and tonumber(stored) > tonumber(ARGV[3]) then return 0 end
                    redis.call('HSET', KEYS[1], 'sum', ARGV[1], 'count', ARGV[2], 'token', ARGV[3])
                    return 1
                    """,
                    [(RedisKey)$"{Service}:summary:{lease.DataStreamName}"],
                    [sum, count, lease.FencingToken]);
                await client.CompleteStreamAsync(lease.Info, token);
                _completions.GetOrAdd(lease.DataStreamName, _ => new ConcurrentQueue<DateTimeOffset>()).Enqueue(DateTimeOffset.UtcNow);
                return;
            }

            sum += (long)entry["v"];
            count++;
            position = entry.Id!;
            if (count % 5 == 0)
            {
                await lease.CheckpointAsync(position, Encoding.UTF8.GetBytes($"{sum}:{count}"), token);
                Interlocked.Increment(ref _checkpoints);
            }

            await Task.Delay(EntryDelay, token);
        }
    }

    /// <summary>
    /// Pairs of leases of one stream that were held at the same moment: a later lease's handler started before an
    /// earlier one had ended locally (OwnershipLost fired) or returned. Within one process the timestamps share one
    /// monotonic clock, so a correct hand-over (the old lease ends locally before Redis can grant the stream again)
    /// never shows here, however small the gap.
    /// </summary>
    public static IReadOnlyList<string> Overlaps(IEnumerable<LeaseRun> runs) =>
        [.. runs.GroupBy(r => r.Stream, StringComparer.Ordinal)
            .SelectMany(g =>
            {
                var ordered = g.OrderBy(r => r.Started).ToList();
                return ordered.SelectMany((later, i) => ordered.Take(i)
                    .Where(earlier => earlier.EndedAt is not { } end || end > later.Started)
                    .Select(earlier => $"{g.Key}: token {later.Token} ({later.Consumer}) started while token {earlier.Token} ({earlier.Consumer}) was held{(earlier.EndedAt is { } e ? $" for {System.Diagnostics.Stopwatch.GetElapsedTime(later.Started, e).TotalMilliseconds:0} ms more" : " (never ended)")}"));
            })];

    private static async Task RetryAsync(Func<Task> action)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await action();
                return;
            }
            catch (Exception ex) when ((ex is RedisException or TimeoutException or RecoverableStreamsException) && attempt < 300)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100));
            }
        }
    }
}

/// <summary>One lease a handler ran for: held from <see cref="Started"/> until it ended locally or its handler returned.</summary>
internal sealed class LeaseRun(string stream, string consumer, long token, long started)
{
    private long _ended;

    public string Stream { get; } = stream;

    public string Consumer { get; } = consumer;

    public long Token { get; } = token;

    /// <summary>When the handler was started (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>).</summary>
    public long Started { get; } = started;

    /// <summary>The first of: OwnershipLost fired, the handler returned; null while held.</summary>
    public long? EndedAt => Interlocked.Read(ref _ended) is var e and > 0 ? e : null;

    public void Ended() => Interlocked.CompareExchange(ref _ended, System.Diagnostics.Stopwatch.GetTimestamp(), 0);
}
