using System.Collections.Concurrent;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Infrastructure;

/// <summary>
/// Watches for two owners of one stream. Locally: when a consumer is told it owns a stream (StreamAdded), the previous
/// lease of that stream (lower fencing token, any consumer) must already have ended, because a hand-over ends the old
/// lease before it releases the record. In Redis: every ownership record and the session → streams index agree, and
/// no stream is indexed under two sessions (checked atomically per partition by a script).
/// </summary>
internal sealed class HandoverWatch
{
    private const string CheckScript = """
        local bad = {}
        local seen = {}
        for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
            local sep = string.find(m, '\0', 1, true)
            local s = string.sub(m, 1, sep - 1)
            local id = string.sub(m, sep + 1)
            if seen[id] then bad[#bad + 1] = 'indexed twice: ' .. id end
            seen[id] = true
            local record = redis.call('HGET', KEYS[1], id)
            if record and string.sub(record, 1, #s + 1) ~= s .. '|' then bad[#bad + 1] = 'index and record differ: ' .. id end
        end
        local records = redis.call('HGETALL', KEYS[1])
        for i = 1, #records, 2 do
            if not seen[records[i]] then bad[#bad + 1] = 'record without index: ' .. records[i] end
        end
        return bad
        """;

    private readonly ConcurrentDictionary<string, List<StreamLease>> _leases = new();
    private readonly ConcurrentQueue<string> _violations = new();

    public IReadOnlyCollection<string> Violations => _violations;

    /// <summary>How many times a stream was granted to a consumer after another had held it.</summary>
    public int HandOvers => _leases.Values.Sum(l => { lock (l) { return Math.Max(0, l.Select(x => x.ConsumerId).Distinct().Count() - 1); } });

    /// <summary>Pass as a <see cref="TestConsumer"/>'s notification callback.</summary>
    public Task OnNotification(StreamNotification notification)
    {
        if (notification.Type == StreamNotificationType.StreamAdded && notification.Lease is { } lease)
        {
            var list = _leases.GetOrAdd(lease.IdInLbs, _ => []);
            lock (list)
            {
                foreach (var older in list.Where(l => l.FencingToken < lease.FencingToken && l.IsOwned))
                {
                    _violations.Enqueue($"{lease.IdInLbs}: granted to {lease.ConsumerId} (token {lease.FencingToken}) while {older.ConsumerId} (token {older.FencingToken}) still owned it");
                }

                list.Add(lease);
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>Checks the Redis state of every partition once; adds what is wrong to <see cref="Violations"/>.</summary>
    public async Task CheckRedisAsync(IDatabase db, PartitionLayout layout)
    {
        foreach (var keys in layout.Partitions)
        {
            var bad = (RedisResult[])(await db.ScriptEvaluateAsync(CheckScript, [keys.Owners, keys.Owned]))!;
            foreach (var problem in bad)
            {
                _violations.Enqueue($"{keys.Lbs}: {problem}");
            }
        }
    }

    /// <summary>Checks the Redis state every few milliseconds until <paramref name="stop"/> fires.</summary>
    public async Task CheckRedisUntilAsync(IDatabase db, PartitionLayout layout, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            await CheckRedisAsync(db, layout);
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20), stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
