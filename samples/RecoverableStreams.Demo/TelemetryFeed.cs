using StackExchange.Redis;

namespace RecoverableStreams.Demo;

/// <summary>
/// The producer side: announces the data streams through <see cref="StreamPublisher"/>, then writes live telemetry
/// (entries with an integer <c>v</c>) to every stream in rounds until told to finish, then an <c>end</c> entry each.
/// It remembers what it sent, so the workers' summaries can be checked.
/// </summary>
internal sealed class TelemetryFeed(IConnectionMultiplexer redis, RecoverableStreamOptions options)
{
    private static readonly TimeSpan RoundInterval = TimeSpan.FromMilliseconds(250);
    private readonly IDatabase _db = redis.GetDatabase(options.Database);
    private readonly List<SentStream> _streams = [];

    public IReadOnlyList<SentStream> Streams => _streams;

    public int Rounds { get; private set; }

    /// <summary>Announces <paramref name="count"/> streams in small batches, so every worker's reader gets a share.</summary>
    public async Task AnnounceAsync(string service, int count, CancellationToken cancellationToken)
    {
        var publisher = new StreamPublisher(redis, options);
        const int batch = 10;
        for (var start = 0; start < count; start += batch)
        {
            var names = Enumerable.Range(start, Math.Min(batch, count - start)).Select(i => (Index: i, Name: $"{service}:device:{i:D5}")).ToList();
            var ids = await Task.WhenAll(names.Select(n => publisher.AddStreamAsync(
                n.Name,
                new Dictionary<string, object?> { ["device"] = n.Index, ["kind"] = "telemetry" },
                cancellationToken)));
            for (var i = 0; i < names.Count; i++)
            {
                _streams.Add(new SentStream(names[i].Name, ids[i]));
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken);
        }
    }

    /// <summary>
    /// Writes one <c>v</c> entry to every stream per round, at least <paramref name="minimumRounds"/> rounds and until
    /// <paramref name="finish"/> completes, then one <c>end</c> entry to every stream.
    /// </summary>
    public async Task RunAsync(int minimumRounds, Task finish, CancellationToken cancellationToken)
    {
        while (Rounds < minimumRounds || !finish.IsCompleted)
        {
            var round = Task.Delay(RoundInterval, cancellationToken);
            await Task.WhenAll(_streams.Select(stream =>
            {
                var value = Random.Shared.Next(-20, 101);
                stream.Record(value);
                return _db.StreamAddAsync(stream.Name, "v", value);
            }));
            Rounds++;
            await round;
        }

        await Task.WhenAll(_streams.Select(stream => _db.StreamAddAsync(stream.Name, "end", 1)));
    }
}

/// <summary>One announced stream and what was written to it.</summary>
internal sealed class SentStream(string name, string idInLbs)
{
    public string Name { get; } = name;

    public string IdInLbs { get; } = idInLbs;

    public long Sum { get; private set; }

    public long Count { get; private set; }

    public void Record(int value)
    {
        Sum += value;
        Count++;
    }
}
