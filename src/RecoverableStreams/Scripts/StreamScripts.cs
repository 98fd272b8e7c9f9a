using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.Scripts;

/// <summary>
/// Runs the Lua scripts of DESIGN.md section 5 and turns their replies into records. Every state change of the
/// system goes through here; nothing else writes control keys.
/// </summary>
internal sealed class StreamScripts
{
    private readonly IDatabaseAsync _db;
    private readonly StreamKeys _keys;

    public StreamScripts(IDatabaseAsync db, StreamKeys keys)
    {
        _db = db;
        _keys = keys;
    }

    public async Task<ReadAcquireReply> ReadAndAcquireAsync(string consumer, int count, string leaseValuePrefix, TimeSpan lease, TimeSpan liveWindow)
    {
        var reply = await RunAsync("read_acquire",
            [_keys.Lbs, _keys.Deadlines, _keys.Fence, _keys.Consumers],
            [_keys.Group, consumer, count, leaseValuePrefix, Milliseconds(lease), _keys.LeasePrefix, Milliseconds(liveWindow)]).ConfigureAwait(false);

        var items = (RedisResult[])reply!;
        var entries = new List<AcquiredEntry>((items.Length - 2) / 3);
        for (var i = 2; i + 2 < items.Length; i += 3)
        {
            entries.Add(new AcquiredEntry((string)items[i]!, (long)items[i + 1], Fields(items[i + 2]), PreviousConsumer: null));
        }

        return new ReadAcquireReply((long)items[0], (long)items[1], entries);
    }

    public Task<ClaimReply> ClaimIdsAsync(string consumer, string leaseValuePrefix, TimeSpan lease, IReadOnlyCollection<string> ids)
    {
        var args = new List<RedisValue> { _keys.Group, consumer, leaseValuePrefix, Milliseconds(lease), _keys.LeasePrefix, "ids", ids.Count, 0 };
        args.AddRange(ids.Select(id => (RedisValue)id));
        return ClaimAsync(args);
    }

    public Task<ClaimReply> ClaimExpiredAsync(string consumer, string leaseValuePrefix, TimeSpan lease, int freeCapacity, TimeSpan liveWindow) =>
        ClaimAsync([_keys.Group, consumer, leaseValuePrefix, Milliseconds(lease), _keys.LeasePrefix, "expired", freeCapacity, Milliseconds(liveWindow)]);

    public async Task<FindExpiredReply> FindExpiredAsync(string watermark, int max)
    {
        var items = (RedisResult[])(await RunAsync("find_expired", [_keys.Lbs, _keys.Deadlines], [_keys.LeasePrefix, watermark, max]).ConfigureAwait(false))!;
        var entries = new List<ExpiredEntry>();
        for (var i = 3; i < items.Length; i++)
        {
            var pair = (RedisResult[])items[i]!;
            entries.Add(new ExpiredEntry((string)pair[0]!, Fields(pair[1])));
        }

        return new FindExpiredReply((long)items[0], (long)items[1], (string)items[2]!, entries);
    }

    public async Task<RenewReply> RenewAsync(string consumerMember, TimeSpan lease, TimeSpan heartbeatRetention, IReadOnlyCollection<(string Id, string Value)> leases)
    {
        var args = new List<RedisValue>(4 + (leases.Count * 2)) { Milliseconds(lease), _keys.LeasePrefix, consumerMember, Milliseconds(heartbeatRetention) };
        foreach (var (id, value) in leases)
        {
            args.Add(id);
            args.Add(value);
        }

        var items = (RedisResult[])(await RunAsync("renew", [_keys.Deadlines, _keys.Consumers], [.. args]).ConfigureAwait(false))!;
        return new RenewReply((long)items[0], items.Skip(1).Select(r => (string)r!).ToArray());
    }

    public async Task<bool> CompleteAsync(string id, string leaseValue)
    {
        var result = await RunAsync("complete",
            [_keys.Lbs, _keys.Deadlines, _keys.Attempts, _keys.Lease(id), _keys.Checkpoint(id)],
            [_keys.Group, id, leaseValue]).ConfigureAwait(false);
        return (long)result == 1;
    }

    /// <summary>Returns the dead letter's id, or <see langword="null"/> when the lease is not the caller's.</summary>
    public async Task<string?> DeadLetterAsync(string id, string leaseValue, string reason, string consumer, int maxLength)
    {
        var result = await RunAsync("dead_letter",
            [_keys.Lbs, _keys.Deadlines, _keys.Attempts, _keys.Lease(id), _keys.Checkpoint(id), _keys.Dead],
            [_keys.Group, id, leaseValue, reason, consumer, maxLength]).ConfigureAwait(false);
        return result.Resp2Type == ResultType.Integer ? null : (string?)result;
    }

    public async Task<IReadOnlyList<string>> ReleaseAsync(IReadOnlyCollection<(string Id, string Value)> leases)
    {
        var args = new List<RedisValue>(1 + (leases.Count * 2)) { _keys.LeasePrefix };
        foreach (var (id, value) in leases)
        {
            args.Add(id);
            args.Add(value);
        }

        var items = (RedisResult[])(await RunAsync("release", [_keys.Deadlines, _keys.Events], [.. args]).ConfigureAwait(false))!;
        return items.Select(r => (string)r!).ToArray();
    }

    public async Task<bool> CheckpointAsync(string id, string leaseValue, string position, ReadOnlyMemory<byte> state, long fencingToken)
    {
        var result = await RunAsync("checkpoint",
            [_keys.Lease(id), _keys.Checkpoint(id)],
            [leaseValue, position, state, fencingToken]).ConfigureAwait(false);
        return (long)result == 1;
    }

    /// <summary>Returns the attempts so far, or -1 when the lease is not the caller's.</summary>
    public async Task<long> RecordAttemptAsync(string id, string leaseValue)
    {
        var result = await RunAsync("record_attempt", [_keys.Lease(id), _keys.Attempts], [leaseValue, id]).ConfigureAwait(false);
        return (long)result;
    }

    public async Task<ReconcilePage> ReconcilePageAsync(string start, int pageSize, TimeSpan minIdle)
    {
        var items = (RedisResult[])(await RunAsync("reconcile",
            [_keys.Lbs, _keys.Deadlines],
            [_keys.Group, _keys.LeasePrefix, start, pageSize, Milliseconds(minIdle)]).ConfigureAwait(false))!;
        return new ReconcilePage((int)items[0], (string)items[1]!, (int)items[2]);
    }

    private async Task<ClaimReply> ClaimAsync(IReadOnlyList<RedisValue> args)
    {
        var items = (RedisResult[])(await RunAsync("claim",
            [_keys.Lbs, _keys.Deadlines, _keys.Fence, _keys.Consumers], [.. args]).ConfigureAwait(false))!;

        var results = new List<ClaimResult>(items.Length - 3);
        for (var i = 3; i < items.Length; i++)
        {
            var r = (RedisResult[])items[i]!;
            var id = (string)r[0]!;
            results.Add((string)r[1]! switch
            {
                "claimed" => new ClaimResult(id, ClaimStatus.Claimed, new AcquiredEntry(id, (long)r[2], Fields(r[3]), (string?)r[4]), null),
                "owned" => new ClaimResult(id, ClaimStatus.Owned, null, (string?)r[2]),
                _ => new ClaimResult(id, ClaimStatus.NotFound, null, null),
            });
        }

        return new ClaimReply((long)items[0], (long)items[1], (long)items[2], results);
    }

    private Task<RedisResult> RunAsync(string script, RedisKey[] keys, RedisValue[] args) =>
        _db.ScriptEvaluateAsync(ScriptSource.Get(script), keys, args);

    private static long Milliseconds(TimeSpan value) => (long)Math.Ceiling(value.TotalMilliseconds);

    private static List<KeyValuePair<string, RedisValue>> Fields(RedisResult result)
    {
        var fields = new List<KeyValuePair<string, RedisValue>>();
        if (result.IsNull || result.Resp2Type != ResultType.Array)
        {
            return fields;
        }

        var items = (RedisResult[])result!;
        for (var i = 0; i + 1 < items.Length; i += 2)
        {
            fields.Add(new((string)items[i]!, (RedisValue)items[i + 1]));
        }

        return fields;
    }
}
