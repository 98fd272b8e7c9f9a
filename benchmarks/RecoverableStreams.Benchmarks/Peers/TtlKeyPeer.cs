using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using RecoverableStreams.Benchmarks.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.Benchmarks.Peers;

/// <summary>
/// The Go library's ownership mechanism (redis-stream-client-go), reimplemented small for side-by-side rows — not its
/// code. Streams are announced on an LBS stream read through a consumer group (XREADGROUP, blocking); each stream's
/// owner holds a TTL key (<c>SET key consumer NX PX ttl</c>) renewed by a loop of its own every ttl / 2 (a
/// compare-then-PEXPIRE script that re-creates a vanished key, as redsync's extend with SetNXOnExtend does). Expiry is
/// found only through keyspace <c>expired</c> events (<c>notify-keyspace-events Ex</c>, PSUBSCRIBE): every survivor
/// hears the event, XCLAIMs the LBS entry with a minimum idle time of one ttl (one survivor wins) and locks the key.
/// There is no capacity, no fair share and no graceful handover (its Done() acknowledges, that is completes, every
/// stream). One difference for speed: the entries of one XREADGROUP batch are locked concurrently, not one by one.
/// </summary>
internal sealed class TtlKeyPeer : IAsyncDisposable
{
    // Returns 1 when our key was extended, 2 when it had vanished and was re-created (a lost lease), 0 when another
    // consumer holds it.
    private const string ExtendScript = """
        local value = redis.call('GET', KEYS[1])
        if value == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return 1
        elseif value == false then
          redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')
          return 2
        end
        return 0
        """;

    private readonly IConnectionMultiplexer _redis;
    private readonly IDatabase _db;
    private readonly string _connectionString;
    private readonly string _service;
    private readonly TimeSpan _ttl;
    private readonly bool _claimOnExpiry;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, Owned> _owned = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, double> _firstOwnedAt = new(StringComparer.Ordinal);
    private ConnectionMultiplexer? _reader;
    private Task _reading = Task.CompletedTask;
    private long _lost;
    private long _errors;

    public TtlKeyPeer(IConnectionMultiplexer redis, string connectionString, string service, TimeSpan ttl, bool claimOnExpiry)
    {
        _redis = redis;
        _db = redis.GetDatabase();
        _connectionString = connectionString;
        _service = service;
        _ttl = ttl;
        _claimOnExpiry = claimOnExpiry;
        ConsumerId = $"ttl-consumer-{Guid.NewGuid():N}";
    }

    public string ConsumerId { get; }

    public int OwnedCount => _owned.Count;

    /// <summary>When each stream was first owned here (<see cref="Clock.NowMs"/>): the moment its handler would start.</summary>
    public IReadOnlyDictionary<string, double> FirstOwnedAt => _firstOwnedAt;

    /// <summary>Leases found lost by a renewal: the key had vanished (expired) or another consumer held it.</summary>
    public long Lost => Interlocked.Read(ref _lost);

    public long Errors => Interlocked.Read(ref _errors);

    public static string Lbs(string service) => service + "-input";

    public static string Group(string service) => service + "-group";

    private string LockPrefix => _service + ":lock:";

    /// <summary>The deadline of each owned stream's key, from the send time of its last renewal (local clock, ms).</summary>
    public IReadOnlyDictionary<string, double> Deadlines() => _owned.ToDictionary(o => o.Key, o => o.Value.LastSentMs + _ttl.TotalMilliseconds, StringComparer.Ordinal);

    /// <summary>Announces streams as a Go or Python producer does: XADD of the <c>lbs-input</c> JSON, pipelined.</summary>
    public static async Task AnnounceAsync(IDatabase db, string service, IEnumerable<string> names)
    {
        foreach (var batch in names.Chunk(1000))
        {
            await Task.WhenAll(batch.Select(n => db.StreamAddAsync(Lbs(service), LbsInputMessage.FieldName, JsonSerializer.Serialize(new { DataStreamName = n, Info = new { } }))));
        }
    }

    public async Task StartAsync()
    {
        // The Go library overwrites the flags with "Ex"; the suite resets them between libraries.
        await _redis.GetServers()[0].ConfigSetAsync("notify-keyspace-events", "Ex");
        try
        {
            await _db.ExecuteAsync("XGROUP", "CREATE", Lbs(_service), Group(_service), "0", "MKSTREAM");
        }
        catch (RedisServerException ex) when (ex.Message.Contains("BUSYGROUP", StringComparison.Ordinal))
        {
        }

        if (_claimOnExpiry)
        {
            await _redis.GetSubscriber().SubscribeAsync(RedisChannel.Pattern("__keyevent@*__:expired"), OnExpired);
        }

        // XREADGROUP BLOCK holds its connection, so the reader has a multiplexer of its own (go-redis takes a pooled one).
        _reader = await ConnectionMultiplexer.ConnectAsync(_connectionString);
        _reading = Task.Run(ReadLbsAsync);
    }

    /// <summary>A crash: every loop stops, nothing is released; the keys expire by themselves.</summary>
    public async Task CrashAsync()
    {
        await _stop.CancelAsync();
        if (_claimOnExpiry)
        {
            await _redis.GetSubscriber().UnsubscribeAsync(RedisChannel.Pattern("__keyevent@*__:expired"), OnExpired);
        }

        await _reading;
    }

    public async ValueTask DisposeAsync()
    {
        await CrashAsync();
        if (_reader is not null)
        {
            await _reader.DisposeAsync();
        }

        _stop.Dispose();
    }

    private async Task ReadLbsAsync()
    {
        var db = _reader!.GetDatabase();
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var reply = await db.ExecuteAsync("XREADGROUP", "GROUP", Group(_service), ConsumerId, "COUNT", "1000", "BLOCK", "500", "STREAMS", Lbs(_service), ">");
                if (reply.IsNull)
                {
                    continue;
                }

                // RESP2: [[lbs, [[id, [field, value, ...]], ...]]]; RESP3: a map {lbs: [[id, [...]], ...]}, flattened.
                var top = (RedisResult[])reply!;
                var entries = top[0].Resp2Type == ResultType.Array ? (RedisResult[])((RedisResult[])top[0]!)[1]! : (RedisResult[])top[1]!;
                await Task.WhenAll(entries.Select(e =>
                {
                    var parts = (RedisResult[])e!;
                    var fields = (RedisResult[])parts[1]!;
                    using var json = JsonDocument.Parse((string)fields[1]!);
                    return LockAsync(json.RootElement.GetProperty("DataStreamName").GetString()!, (string)parts[0]!);
                }));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // A benchmark peer keeps reading; the first error is shown so a broken peer is not silent.
                if (Interlocked.Increment(ref _errors) == 1)
                {
                    Console.WriteLine($"    [ttl-peer] read error: {ex.GetType().Name}: {ex.Message}");
                }

                await Task.Delay(100);
            }
        }
    }

    private async Task LockAsync(string name, string idInLbs)
    {
        var key = $"{LockPrefix}{name}:{idInLbs}";
        var sentAt = Clock.NowMs;
        if (!await _db.StringSetAsync(key, ConsumerId, _ttl, When.NotExists))
        {
            return;
        }

        // The Go library extends once right after locking.
        await _db.ScriptEvaluateAsync(ExtendScript, [key], [ConsumerId, (long)_ttl.TotalMilliseconds]);
        var owned = new Owned(key, sentAt);
        _owned[name] = owned;
        _firstOwnedAt.TryAdd(name, Clock.NowMs);
        _ = RenewLoopAsync(name, owned);
    }

    private async Task RenewLoopAsync(string name, Owned owned)
    {
        try
        {
            while (true)
            {
                await Task.Delay(_ttl / 2, _stop.Token);
                owned.LastSentMs = Clock.NowMs;
                var result = (long)await _db.ScriptEvaluateAsync(ExtendScript, [owned.Key], [ConsumerId, (long)_ttl.TotalMilliseconds]);
                if (result == 0)
                {
                    Interlocked.Increment(ref _lost);
                    _owned.TryRemove(name, out _);
                    return;
                }

                if (result == 2)
                {
                    // The key had expired under us; the extend script re-created it, as redsync's does.
                    Interlocked.Increment(ref _lost);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
        {
            Interlocked.Increment(ref _errors);
        }
    }

    private void OnExpired(RedisChannel channel, RedisValue message)
    {
        var key = (string)message!;
        if (_stop.IsCancellationRequested || !key.StartsWith(LockPrefix, StringComparison.Ordinal))
        {
            return;
        }

        var rest = key[LockPrefix.Length..];
        var split = rest.LastIndexOf(':');
        _ = ClaimAsync(rest[..split], rest[(split + 1)..]);
    }

    /// <summary>As the Go library's Claim: XCLAIM with a minimum idle time of one ttl (only one survivor wins), then lock.</summary>
    private async Task ClaimAsync(string name, string idInLbs)
    {
        try
        {
            var claimed = (RedisResult[])(await _db.ExecuteAsync("XCLAIM", Lbs(_service), Group(_service), ConsumerId, ((long)_ttl.TotalMilliseconds).ToString(CultureInfo.InvariantCulture), idInLbs, "JUSTID"))!;
            if (claimed.Length == 0)
            {
                return;
            }

            await LockAsync(name, idInLbs);
        }
        catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
        {
            Interlocked.Increment(ref _errors);
        }
    }

    private sealed class Owned(string key, double lastSentMs)
    {
        public string Key { get; } = key;

        public double LastSentMs { get; set; } = lastSentMs;
    }
}
