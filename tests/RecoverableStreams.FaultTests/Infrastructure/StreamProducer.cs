using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using StackExchange.Redis;

namespace RecoverableStreams.FaultTests.Infrastructure;

/// <summary>What the producer writes: how many streams, how many entries each, and how fast.</summary>
internal sealed record ProducerPlan(int Streams, int MinEntries, int MaxEntries, TimeSpan AnnounceOver, TimeSpan EntryInterval, int Seed = 1);

/// <summary>One data stream as the producer wrote it: the ledger the outcome is checked against.</summary>
internal sealed class ProducedStream(string name)
{
    public string Name { get; } = name;

    public string? LbsId { get; set; }

    /// <summary>Time since the run started at which the announcement was confirmed.</summary>
    public TimeSpan AnnouncedAt { get; set; }

    public long Sum { get; set; }

    public int Count { get; set; }

    public bool Ended { get; set; }
}

/// <summary>
/// A live producer: announces each data stream with the core <see cref="StreamPublisher"/>, then writes integer
/// <c>v</c> entries over time and finally an <c>end</c> entry. It rides through Redis restarts: every write is retried
/// until confirmed, and written exactly once (data entries carry explicit ids <c>0-1</c>, <c>0-2</c>..., so a retry of a
/// write that had succeeded is refused by Redis as a duplicate; an announcement whose reply was lost is looked up in the
/// LBS before it is repeated).
/// </summary>
internal sealed class StreamProducer(IConnectionMultiplexer redis, RecoverableStreamOptions options, ServiceKeys keys, ProducerPlan plan, Stopwatch clock)
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(100);
    private readonly ConcurrentDictionary<string, ProducedStream> _streams = new(StringComparer.Ordinal);
    private readonly StreamPublisher _publisher = new(redis, options);
    private int _entriesWritten;
    private int _retries;

    public IReadOnlyCollection<ProducedStream> Streams => _streams.Values.ToArray();

    public int EntriesWritten => Volatile.Read(ref _entriesWritten);

    public int Retries => Volatile.Read(ref _retries);

    public int Announced => _streams.Values.Count(s => s.LbsId is not null);

    public int EndedStreams => _streams.Values.Count(s => s.Ended);

    /// <summary>Time since the run started at which the last <c>end</c> was confirmed.</summary>
    public TimeSpan FinishedAt { get; private set; }

    /// <summary>Writes every stream; completes when each has its <c>end</c> entry.</summary>
    public async Task RunAsync(string namePrefix, CancellationToken cancellationToken)
    {
        var random = new Random(plan.Seed);
        var tasks = new List<Task>();
        for (var i = 0; i < plan.Streams; i++)
        {
            var stream = new ProducedStream($"{namePrefix}:{i:D5}");
            _streams[stream.Name] = stream;
            var startAfter = plan.AnnounceOver * ((double)i / plan.Streams);
            var values = Enumerable.Range(0, random.Next(plan.MinEntries, plan.MaxEntries + 1)).Select(_ => (long)random.Next(-1000, 1000)).ToArray();
            tasks.Add(Task.Run(() => WriteStreamAsync(stream, startAfter, values, cancellationToken), cancellationToken));
        }

        await Task.WhenAll(tasks);
        FinishedAt = clock.Elapsed;
    }

    private async Task WriteStreamAsync(ProducedStream stream, TimeSpan startAfter, long[] values, CancellationToken cancellationToken)
    {
        await Task.Delay(startAfter, cancellationToken);
        stream.LbsId = await AnnounceAsync(stream.Name, cancellationToken);
        stream.AnnouncedAt = clock.Elapsed;
        var db = redis.GetDatabase();
        for (var i = 0; i < values.Length; i++)
        {
            await AddOnceAsync(db, stream.Name, i + 1, [new NameValueEntry("v", values[i])], cancellationToken);
            stream.Sum += values[i];
            stream.Count++;
            Interlocked.Increment(ref _entriesWritten);
            await Task.Delay(plan.EntryInterval, cancellationToken);
        }

        await AddOnceAsync(db, stream.Name, values.Length + 1, [new NameValueEntry("end", 1)], cancellationToken);
        stream.Ended = true;
    }

    private async Task<string> AnnounceAsync(string name, CancellationToken cancellationToken)
    {
        var uncertain = false;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                if (uncertain && await FindAnnouncementAsync(name) is { } found)
                {
                    return found;
                }

                return await _publisher.AddStreamAsync(name, new Dictionary<string, object?> { ["producer"] = "fault-tests" }, cancellationToken);
            }
            catch (Exception ex) when (ex is RecoverableStreamsException or RedisException or RedisTimeoutException)
            {
                // The entry may have been written before the connection broke: look for it before writing again.
                uncertain = true;
                Interlocked.Increment(ref _retries);
                await Task.Delay(RetryDelay, cancellationToken);
            }
        }
    }

    private async Task<string?> FindAnnouncementAsync(string name)
    {
        // The stream's own partition's LBS; the id as the publisher returns it (with its partition when there are several).
        var partition = keys.PartitionOf(name);
        var entries = await redis.GetDatabase().StreamRangeAsync(keys.Lbs[partition]);
        foreach (var entry in entries)
        {
            var payload = (string?)entry["lbs-input"];
            if (payload is not null && JsonDocument.Parse(payload).RootElement.GetProperty("DataStreamName").GetString() == name)
            {
                return keys.IdOf(partition, entry.Id!);
            }
        }

        return null;
    }

    private async Task AddOnceAsync(IDatabase db, string key, int sequence, NameValueEntry[] fields, CancellationToken cancellationToken)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                await db.StreamAddAsync(key, fields, messageId: $"0-{sequence}");
                return;
            }
            catch (RedisServerException ex) when (ex.Message.Contains("equal or smaller", StringComparison.Ordinal))
            {
                // An earlier attempt was written although its reply was lost.
                return;
            }
            catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
            {
                Interlocked.Increment(ref _retries);
                await Task.Delay(RetryDelay, cancellationToken);
            }
        }
    }
}
