using System.Globalization;
using RecoverableStreams.Benchmarks.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.Benchmarks.Suite;

/// <summary>Shared steps of the suite's rows: announcing, waiting with a deadline, turning latencies into cells.</summary>
internal static class RowHelpers
{
    public static RecoverableStreamOptions Options(string service, int capacity, TimeSpan lease, bool autoClaim) => new()
    {
        ServiceName = service,
        LeaseDuration = lease,
        MaxConcurrentStreams = capacity,
        AutoClaim = autoClaim,
    };

    public static IReadOnlyList<string> Names(string service, int count) =>
        Enumerable.Range(0, count).Select(i => $"{service}-data-{i}").ToArray();

    /// <summary>Announces through the public <see cref="StreamPublisher"/>, 1000 at a time.</summary>
    public static async Task PublishAsync(IConnectionMultiplexer redis, RecoverableStreamOptions options, IEnumerable<string> names)
    {
        var publisher = new StreamPublisher(redis, options);
        foreach (var batch in names.Chunk(1000))
        {
            await Task.WhenAll(batch.Select(n => publisher.AddStreamAsync(n)));
        }
    }

    /// <summary>Waits for a condition; false (not an exception) when the deadline passes, so the row can say so.</summary>
    public static async Task<bool> EventuallyAsync(Func<bool> condition, TimeSpan timeout, int pollMs = 10)
    {
        var end = Clock.NowMs + timeout.TotalMilliseconds;
        while (!condition())
        {
            if (Clock.NowMs > end)
            {
                return false;
            }

            await Task.Delay(pollMs);
        }

        return true;
    }

    /// <summary>
    /// Per-stream latencies (owned-at minus reference) as p50 / p99 / max cells; streams never owned make the max cell
    /// a timeout that says how many were owned.
    /// </summary>
    public static (Cell P50, Cell P99, Cell Max) Latencies(IReadOnlyDictionary<string, double> reference, Func<string, double?> ownedAt, bool complete)
    {
        var samples = reference.Select(r => ownedAt(r.Key) is { } at ? at - r.Value : double.NaN).Where(v => !double.IsNaN(v)).ToList();
        if (samples.Count == 0)
        {
            return (Cell.Note("none owned"), Cell.Note("none owned"), Cell.Note($"timeout: 0 of {reference.Count} owned"));
        }

        var max = complete
            ? Cell.Ms(samples.Max())
            : Cell.Note($"timeout: {samples.Count} of {reference.Count} owned");
        return (Cell.Ms(Stats.Percentile(samples, 50)), Cell.Ms(Stats.Percentile(samples, 99)), max);
    }

    public static string Ratio(int max, int min) =>
        min == 0 ? $"∞ ({max}/0)" : string.Create(CultureInfo.InvariantCulture, $"{(double)max / min:0.00} ({max}/{min})");

    /// <summary>Clears Redis and the notification flags between rows, so each library sets only its own.</summary>
    public static async Task ResetAsync(IConnectionMultiplexer redis)
    {
        var server = redis.GetServers()[0];
        await server.FlushAllDatabasesAsync();
        await server.ConfigSetAsync("notify-keyspace-events", "");
    }

    /// <summary>Disposes with a deadline: a slow shutdown must not stall the suite (the next reset clears Redis).</summary>
    public static async Task DisposeQuietlyAsync(IAsyncDisposable disposable, TimeSpan timeout)
    {
        try
        {
            await disposable.DisposeAsync().AsTask().WaitAsync(timeout);
        }
        catch (Exception ex) when (ex is TimeoutException or RedisException or OperationCanceledException or InvalidOperationException)
        {
            Console.WriteLine($"    (dispose did not finish cleanly: {ex.GetType().Name})");
        }
    }
}
