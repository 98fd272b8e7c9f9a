using System.Reflection;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.Hosting.Routing;

/// <summary>
/// The patterns each live worker of the service handles, in one hash in the service's hash slot (<c>{L}:routes</c>,
/// consumer member to deadline and patterns). Every worker advertises its own with a time to live and refreshes it;
/// a worker that cannot route a stream asks whether a live peer can before it dead-letters it (a rolling deploy:
/// the old pods must not dead-letter the streams only the new ones handle).
/// </summary>
internal sealed class RouteDirectory
{
    private static readonly Lazy<(string Advertise, string Live)> Scripts = new(() => (Load("advertise_routes"), Load("live_routes")));

    private readonly IDatabase _db;
    private readonly RedisKey _key;
    private readonly string _patterns;
    private readonly TimeSpan _ttl;

    public RouteDirectory(IDatabase db, RecoverableStreamOptions options, HandlerRouter router, string consumerId)
    {
        _db = db;
        // In partition 0's hash tag: one directory per service, whatever its number of partitions.
        _key = PartitionLayout.For(options).Partitions[0].Prefix + ":routes";
        _patterns = string.Join('\n', router.Patterns);
        // Three refreshes may fail before a live worker's patterns are forgotten.
        _ttl = options.LeaseDuration * 3;
        Member = consumerId + "|" + Guid.NewGuid().ToString("N")[..12];
        RefreshInterval = options.LeaseDuration;
    }

    /// <summary>This worker in the hash: its consumer id and a random suffix of this start.</summary>
    public string Member { get; }

    public TimeSpan RefreshInterval { get; }

    public Task AdvertiseAsync() =>
        _db.ScriptEvaluateAsync(Scripts.Value.Advertise, [_key], [Member, (long)_ttl.TotalMilliseconds, _patterns]);

    /// <summary>Forgets this worker's patterns (a graceful stop); best effort, the time to live covers a crash.</summary>
    public Task WithdrawAsync() => _db.HashDeleteAsync(_key, Member);

    /// <summary>True when a live peer advertises a pattern (or a default handler) that matches the data stream.</summary>
    public async Task<bool> AnyLivePeerHandlesAsync(string dataStreamName)
    {
        var reply = (RedisResult[])(await _db.ScriptEvaluateAsync(Scripts.Value.Live, [_key], [Member]).ConfigureAwait(false))!;
        return reply.Any(peer => ((string?)peer ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries).Any(p => new GlobPattern(p).IsMatch(dataStreamName)));
    }

    private static string Load(string name)
    {
        var resource = "RecoverableStreams.Hosting.Scripts." + name + ".lua";
        using var stream = typeof(RouteDirectory).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"Embedded script '{resource}' is missing from {typeof(RouteDirectory).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
