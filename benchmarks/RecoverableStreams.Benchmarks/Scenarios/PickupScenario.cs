using System.Collections.Concurrent;
using RecoverableStreams.Benchmarks.Infrastructure;
using RecoverableStreams.Keys;
using RecoverableStreams.Parsing;
using StackExchange.Redis;

namespace RecoverableStreams.Benchmarks.Scenarios;

/// <summary>
/// New-entry pickup: the time from announcing a data stream to <c>StreamAdded</c> on an idle consumer, one stream at
/// a time. Four wake-up paths: keyspace <c>xadd</c> events on or off (server flags cleared), and the producer being
/// <see cref="StreamPublisher"/> (which also publishes an <c>added</c> wake-up) or a plain XADD of the same entry,
/// as a Go or Python producer writes it. Off with a plain XADD is pure polling (<c>PollInterval</c>).
/// </summary>
internal static class PickupScenario
{
    /// <summary>Samples discarded per variant (JIT, first script loads, connection warm-up).</summary>
    private const int Warmup = 3;

    public static async Task<IReadOnlyList<ResultTable>> RunAsync(IConnectionMultiplexer redis, BenchArguments args)
    {
        var count = args.Int("streams", 200);
        var pollCount = args.Int("poll-streams", Math.Min(count, 20));
        var pollInterval = TimeSpan.FromMilliseconds(args.Int("poll-ms", 1000));
        var table = new ResultTable(
            $"pickup: announce to StreamAdded, one stream at a time (PollInterval {pollInterval.TotalMilliseconds:F0} ms)",
            "keyspace notifications", "producer", "streams", "p50", "p95", "p99", "max");

        foreach (var (keyspace, publisher) in new[] { (true, true), (true, false), (false, true), (false, false) })
        {
            var n = keyspace || publisher ? count : pollCount;
            var latencies = await MeasureAsync(redis, keyspace, publisher, n, pollInterval);
            table.Add(
                keyspace ? "on (Merge)" : "off (Off, flags cleared)",
                publisher ? "StreamPublisher" : "plain XADD",
                n,
                Stats.Ms(Stats.Percentile(latencies, 50)),
                Stats.Ms(Stats.Percentile(latencies, 95)),
                Stats.Ms(Stats.Percentile(latencies, 99)),
                Stats.Ms(latencies.Max()));
            Console.WriteLine($"  pickup keyspace={keyspace} publisher={publisher}: {n} streams done");
        }

        table.Note("Latency = from just before the XADD (or AddStreamAsync) to the StreamAdded notification read from the channel; each stream is completed before the next is announced.");
        table.Note($"The first {Warmup} samples of each variant are discarded. With notifications off and a plain XADD, each announcement waits a random fraction of the poll first, so the samples cover the whole poll phase.");
        table.Note("StreamPublisher publishes an 'added' wake-up on {L}:events, so it does not depend on keyspace notifications; a plain XADD with notifications off waits for the poll.");
        return [table];
    }

    private static async Task<List<double>> MeasureAsync(IConnectionMultiplexer redis, bool keyspace, bool publisher, int count, TimeSpan pollInterval)
    {
        var server = redis.GetServers()[0];
        // Off never touches CONFIG, so clear what an earlier Merge run left, or xadd events would still wake the reader;
        // Merge sets its flags again itself.
        await server.ConfigSetAsync("notify-keyspace-events", "");
        var options = new RecoverableStreamOptions
        {
            ServiceName = $"pickup-{Guid.NewGuid():N}",
            KeyspaceNotifications = keyspace ? KeyspaceNotificationsMode.Merge : KeyspaceNotificationsMode.Off,
            PollInterval = pollInterval,
            LeaseDuration = TimeSpan.FromSeconds(10),
            MaxConcurrentStreams = 10,
        };
        var waiting = new ConcurrentDictionary<string, TaskCompletionSource<double>>(StringComparer.Ordinal);
        await using var consumer = await BenchConsumer.StartAsync(redis, options, (notification, at) =>
        {
            if (notification.Type == StreamNotificationType.StreamAdded && waiting.TryGetValue(notification.Payload.DataStreamName, out var done))
            {
                done.TrySetResult(at);
            }
        });
        var streamPublisher = new StreamPublisher(redis, options);
        var lbs = StreamKeys.For(options).Lbs;
        var db = redis.GetDatabase();
        var latencies = new List<double>(count);
        for (var i = -Warmup; i < count; i++)
        {
            var name = $"{options.ServiceName}-data-{i}";
            var done = new TaskCompletionSource<double>(TaskCreationOptions.RunContinuationsAsynchronously);
            waiting[name] = done;
            if (!keyspace && !publisher)
            {
                // Pure polling: announce at a random phase of the poll, or every sample would see the full interval
                // (completing the previous stream wakes the reader, which then sleeps a whole PollInterval).
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * pollInterval.TotalMilliseconds));
            }

            var started = Clock.NowMs;
            if (publisher)
            {
                await streamPublisher.AddStreamAsync(name);
            }
            else
            {
                await db.StreamAddAsync(lbs, LbsInputMessage.FieldName, LbsEntryParser.Serialize(name, null));
            }

            var addedAt = await done.Task.WaitAsync(TimeSpan.FromSeconds(30));
            if (i >= 0)
            {
                latencies.Add(addedAt - started);
            }

            await consumer.Client.CompleteStreamAsync(name);
            // Let the reader go back to sleep, so each sample measures a wake-up rather than a read already under way.
            await Task.Delay(TimeSpan.FromMilliseconds(5));
        }

        return latencies;
    }
}
