using System.Collections.Concurrent;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.Notifications;

/// <summary>
/// Proves, by evidence, that <c>xadd</c> keyevents reach this client: one canary <c>XADD</c> (<c>MAXLEN 1</c>, so the key
/// holds one entry) per primary, to a key of this service routed to that primary, whose own event must come back on the
/// subscription. A canary that comes back shows, at once, that the primary publishes <c>xadd</c> events
/// (<c>notify-keyspace-events</c>) and that the subscription to it is alive; a flag change, a dropped subscription or a
/// primary that was never configured shows up as a canary that does not come back. Keys: <c>{L}:canary</c> (the
/// service's own hash tag) on a single server; on a cluster, for each primary, the <c>canary</c> key of a partition whose
/// hash tag lives there, else <c>L:canary:{n}</c> with the smallest <c>n</c> whose slot that primary serves.
/// </summary>
internal sealed class DeliveryCanary
{
    private const string Field = "t";
    private readonly IConnectionMultiplexer _redis;
    private readonly IDatabaseAsync _database;
    private readonly XAddRouter _router;
    private readonly TimeProvider _time;
    private readonly Action _arrived;
    private readonly IReadOnlyList<string> _prefixes;
    private readonly string _plainBase;
    private readonly ConcurrentDictionary<string, long> _arrivedAt = new(StringComparer.Ordinal);
    private string[] _keys = [];
    private long _sentAt;

    /// <param name="redis">The connection (its cluster map routes a canary to each primary).</param>
    /// <param name="database">Where the canaries are written.</param>
    /// <param name="router">Routes the canaries' events back here.</param>
    /// <param name="prefixes">The control-key prefixes of the service's partitions (<c>{L_i}</c>), partition 0 first.</param>
    /// <param name="time">The clock.</param>
    /// <param name="arrived">Called on StackExchange.Redis' thread when a canary's event arrives.</param>
    public DeliveryCanary(IConnectionMultiplexer redis, IDatabaseAsync database, XAddRouter router, IReadOnlyList<string> prefixes, TimeProvider time, Action arrived)
    {
        _redis = redis;
        _database = database;
        _router = router;
        _time = time;
        _arrived = arrived;
        _prefixes = prefixes;
        _plainBase = prefixes[0].Replace("{", "", StringComparison.Ordinal).Replace("}", "", StringComparison.Ordinal);
    }

    /// <summary>The canary keys of the last round, one per primary.</summary>
    public IReadOnlyList<string> Keys => _keys;

    /// <summary>
    /// Sends one round: a canary to every primary. Returns false when a write failed (a primary that cannot be reached
    /// proves nothing).
    /// </summary>
    public async Task<bool> SendAsync(bool clustered)
    {
        var keys = clustered ? ClusterKeys() : [_prefixes[0] + ":canary"];
        foreach (var old in _keys.Except(keys, StringComparer.Ordinal))
        {
            _router.RemoveProbe(old);
            _arrivedAt.TryRemove(old, out _);
        }

        foreach (var key in keys)
        {
            _router.SetProbe(key, () =>
            {
                _arrivedAt[key] = _time.GetTimestamp();
                _arrived();
            });
        }

        _keys = keys;
        // Before the writes: an event that arrives after this moment was published after it.
        Volatile.Write(ref _sentAt, _time.GetTimestamp());
        if (keys.Length == 0)
        {
            return false;
        }

        try
        {
            var stamp = _time.GetUtcNow().ToUnixTimeMilliseconds();
            await Task.WhenAll(keys.Select(k => _database.StreamAddAsync(k, Field, stamp, maxLength: 1))).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
        {
            return false;
        }
    }

    /// <summary>Whether every canary of the last round has come back since it was sent.</summary>
    public bool AllArrived()
    {
        var sentAt = Volatile.Read(ref _sentAt);
        var keys = _keys;
        if (keys.Length == 0)
        {
            return false;
        }

        foreach (var key in keys)
        {
            if (!_arrivedAt.TryGetValue(key, out var at) || at < sentAt)
            {
                return false;
            }
        }

        return true;
    }

    public void Stop()
    {
        foreach (var key in _keys)
        {
            _router.RemoveProbe(key);
        }
    }

    private string[] ClusterKeys()
    {
        ClusterConfiguration? map = null;
        foreach (var server in _redis.GetServers())
        {
            if (server.IsConnected && server.ServerType == ServerType.Cluster && server.ClusterConfiguration is { } configuration)
            {
                map = configuration;
                break;
            }
        }

        if (map is null)
        {
            return [];
        }

        var keys = new List<string>();
        foreach (var node in map.Nodes)
        {
            if (node.IsReplica || node.Slots.Count == 0)
            {
                continue;
            }

            keys.Add(KeyFor(node.Slots));
        }

        return [.. keys];
    }

    private string KeyFor(IList<SlotRange> slots)
    {
        foreach (var prefix in _prefixes)
        {
            if (Serves(slots, HashSlot.Of(prefix)))
            {
                return prefix + ":canary";
            }
        }

        // No partition of this service lives on that primary: the smallest tag that does (16,384 slots, found quickly).
        for (var n = 0; n < 1_000_000; n++)
        {
            var key = _plainBase + ":canary:{" + n.ToString(System.Globalization.CultureInfo.InvariantCulture) + "}";
            if (Serves(slots, HashSlot.Of(key)))
            {
                return key;
            }
        }

        return _prefixes[0] + ":canary";
    }

    private static bool Serves(IList<SlotRange> slots, int slot)
    {
        foreach (var range in slots)
        {
            if (slot >= range.From && slot <= range.To)
            {
                return true;
            }
        }

        return false;
    }
}
