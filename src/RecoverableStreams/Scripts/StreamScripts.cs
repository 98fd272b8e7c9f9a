using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.Scripts;

/// <summary>
/// Runs the Lua scripts (docs/ARCHITECTURE.md, "Scripts") for the keys of one <see cref="StreamKeys"/> and turns their
/// replies into records. Every state change of the system goes through here; nothing else writes control keys.
/// </summary>
internal sealed class StreamScripts
{
    /// <summary>The most items one script call works on: ids per release or claim call, entries per page.</summary>
    public const int MaxItemsPerCall = 1000;

    private readonly IDatabaseAsync _db;
    private readonly StreamKeys _keys;

    public StreamScripts(IDatabaseAsync db, StreamKeys keys)
    {
        _db = db;
        _keys = keys;
    }

    public StreamKeys Keys => _keys;

    public async Task<SessionReply> OpenSessionAsync(string session, TimeSpan lease) =>
        SessionFrom(await RunAsync("open_session", [_keys.Sessions], [session, Milliseconds(lease)]).ConfigureAwait(false));

    /// <summary>Extends a live session; refused (<see cref="SessionReply.Accepted"/> false) when it is dead or gone.</summary>
    public async Task<SessionReply> RenewAsync(string session, TimeSpan lease) =>
        SessionFrom(await RunAsync("renew", [_keys.Sessions], [session, Milliseconds(lease)]).ConfigureAwait(false));

    public async Task<CloseOutcome> CloseSessionAsync(string session)
    {
        var result = (long)await RunAsync("close_session", [_keys.Sessions, _keys.Counts, _keys.Events], [session]).ConfigureAwait(false);
        return result switch
        {
            1 => CloseOutcome.Removed,
            0 => CloseOutcome.MarkedDead,
            _ => CloseOutcome.Missing,
        };
    }

    public async Task<ReadAcquireReply> ReadAndAcquireAsync(string consumer, string session, int count, int maxPayloadBytes, int deadLetterMaxLength)
    {
        var reply = await RunAsync("read_acquire",
            [_keys.Lbs, _keys.Sessions, _keys.Owners, _keys.Owned, _keys.Counts, _keys.Fence, _keys.Names, _keys.Dead],
            [_keys.Group, consumer, Math.Min(count, MaxItemsPerCall), session, maxPayloadBytes, deadLetterMaxLength]).ConfigureAwait(false);

        var items = (RedisResult[])reply!;
        var granted = (RedisResult[])items[3]!;
        var entries = new List<AcquiredEntry>(granted.Length / 3);
        for (var i = 0; i + 2 < granted.Length; i += 3)
        {
            entries.Add(new AcquiredEntry((string)granted[i]!, (long)granted[i + 1], Fields(granted[i + 2]), PreviousConsumer: null));
        }

        var dup = (RedisResult[])items[4]!;
        var duplicates = new List<DuplicateEntry>(dup.Length / 3);
        for (var i = 0; i + 2 < dup.Length; i += 3)
        {
            duplicates.Add(new DuplicateEntry((string)dup[i]!, (string)dup[i + 1]!, (string)dup[i + 2]!));
        }

        return new ReadAcquireReply((long)items[0], (long)items[1], (long)items[2] == 1, entries, duplicates);
    }

    public Task<ClaimReply> ClaimIdsAsync(string consumer, string session, IReadOnlyCollection<string> ids)
    {
        if (ids.Count > MaxItemsPerCall)
        {
            throw new ArgumentOutOfRangeException(nameof(ids), ids.Count, $"At most {MaxItemsPerCall} ids per call.");
        }

        var args = new List<RedisValue> { _keys.Group, consumer, session, "ids", ids.Count };
        args.AddRange(ids.Select(id => (RedisValue)id));
        return ClaimAsync(args);
    }

    public Task<ClaimReply> ClaimOrphansAsync(string consumer, string session, int freeCapacity) =>
        ClaimAsync([_keys.Group, consumer, session, "orphans", Math.Min(freeCapacity, MaxItemsPerCall)]);

    public async Task<FindOrphansReply> FindOrphansAsync(string? session, long offset, int max)
    {
        var items = (RedisResult[])(await RunAsync("find_orphans",
            [_keys.Lbs, _keys.Sessions, _keys.Owners, _keys.Owned, _keys.Counts, _keys.Free],
            [session ?? "", offset, Math.Min(max, MaxItemsPerCall)]).ConfigureAwait(false))!;
        var entries = new List<OrphanEntry>();
        for (var i = 3; i < items.Length; i++)
        {
            var pair = (RedisResult[])items[i]!;
            entries.Add(new OrphanEntry((string)pair[0]!, Fields(pair[1])));
        }

        return new FindOrphansReply((long)items[0], (long)items[1], (long)items[2], entries);
    }

    public async Task<WriteOutcome> CompleteAsync(string id, string session, string recordValue, string dataStreamName)
    {
        var result = (long)await RunAsync("complete",
            [_keys.Lbs, _keys.Sessions, _keys.Owners, _keys.Owned, _keys.Counts, _keys.Free, _keys.Attempts, _keys.Checkpoint(id), _keys.Names],
            [_keys.Group, id, session, recordValue, dataStreamName]).ConfigureAwait(false);
        return Outcome(result, done: 1, notOwner: 0);
    }

    /// <summary>Returns the dead letter's id with <see cref="WriteOutcome.Done"/>, or the refusal.</summary>
    public async Task<(WriteOutcome Outcome, string? DeadId)> DeadLetterAsync(string id, string session, string recordValue, string? dataStreamName, string reason, string consumer, int maxLength)
    {
        var result = await RunAsync("dead_letter",
            [_keys.Lbs, _keys.Sessions, _keys.Owners, _keys.Owned, _keys.Counts, _keys.Free, _keys.Attempts, _keys.Checkpoint(id), _keys.Names, _keys.Dead],
            [_keys.Group, id, session, recordValue, dataStreamName ?? "", reason, consumer, maxLength]).ConfigureAwait(false);
        if (result.Resp2Type == ResultType.Integer)
        {
            return ((long)result == 0 ? WriteOutcome.NotOwner : WriteOutcome.SessionDead, null);
        }

        return (WriteOutcome.Done, (string?)result);
    }

    /// <summary>Releases up to <see cref="MaxItemsPerCall"/> streams of one session; returns the ids released.</summary>
    public async Task<IReadOnlyList<string>> ReleaseAsync(string session, IReadOnlyCollection<(string Id, string Value)> leases)
    {
        if (leases.Count > MaxItemsPerCall)
        {
            throw new ArgumentOutOfRangeException(nameof(leases), leases.Count, $"At most {MaxItemsPerCall} streams per call.");
        }

        var args = new List<RedisValue>(1 + (leases.Count * 2)) { session };
        foreach (var (id, value) in leases)
        {
            args.Add(id);
            args.Add(value);
        }

        var items = (RedisResult[])(await RunAsync("release",
            [_keys.Sessions, _keys.Owners, _keys.Owned, _keys.Counts, _keys.Free, _keys.Events], [.. args]).ConfigureAwait(false))!;
        return items.Select(r => (string)r!).ToArray();
    }

    public async Task<WriteOutcome> CheckpointAsync(string id, string session, string recordValue, string position, ReadOnlyMemory<byte> state, long fencingToken)
    {
        var result = (long)await RunAsync("checkpoint",
            [_keys.Sessions, _keys.Owners, _keys.Checkpoint(id)],
            [id, session, recordValue, position, state, fencingToken]).ConfigureAwait(false);
        return Outcome(result, done: 1, notOwner: 0);
    }

    /// <summary>Returns the attempts so far with <see cref="WriteOutcome.Done"/>, or the refusal.</summary>
    public async Task<(WriteOutcome Outcome, long Attempts)> RecordAttemptAsync(string id, string session, string recordValue)
    {
        var result = (long)await RunAsync("record_attempt", [_keys.Sessions, _keys.Owners, _keys.Attempts], [id, session, recordValue]).ConfigureAwait(false);
        return result switch
        {
            -1 => (WriteOutcome.NotOwner, 0),
            -2 => (WriteOutcome.SessionDead, 0),
            _ => (WriteOutcome.Done, result),
        };
    }

    public async Task<ReconcilePage> ReconcilePageAsync(string start, int pageSize, TimeSpan minIdle)
    {
        var items = (RedisResult[])(await RunAsync("reconcile",
            [_keys.Lbs, _keys.Sessions, _keys.Owners, _keys.Owned, _keys.Counts, _keys.Free],
            [_keys.Group, start, Math.Min(pageSize, MaxItemsPerCall), Milliseconds(minIdle)]).ConfigureAwait(false))!;
        return new ReconcilePage((int)items[0], (string)items[1]!, (int)items[2]);
    }

    /// <summary>
    /// The cheap totals before a reconciliation pass (<c>reconcile_totals.lua</c>): pending entries against records
    /// plus free entries, and sessions named by a count that no longer exist.
    /// </summary>
    public async Task<PendingTotals> ReadPendingTotalsAsync()
    {
        var items = (RedisResult[])(await RunAsync("reconcile_totals",
            [_keys.Lbs, _keys.Sessions, _keys.Owners, _keys.Counts, _keys.Free],
            [_keys.Group]).ConfigureAwait(false))!;
        return new PendingTotals((long)items[0], (long)items[1], (long)items[2], (long)items[3]);
    }

    /// <summary>Adds an LBS entry unless the name's announcement is still live; returns the live or new id.</summary>
    public async Task<(string Id, bool Added)> AddStreamAsync(string dataStreamName, string field, string payload)
    {
        var items = (RedisResult[])(await RunAsync("add_stream", [_keys.Lbs, _keys.Names], [dataStreamName, field, payload]).ConfigureAwait(false))!;
        return ((string)items[0]!, (long)items[1] == 1);
    }

    /// <summary>
    /// Reads this partition's load for the rebalancer (<c>loads.lua</c>); with <paramref name="capacity"/>, also
    /// publishes the caller's capacity and returns every live session's (partition 0 keeps the capacities).
    /// </summary>
    public async Task<PartitionLoadReply> ReadLoadAsync(string session, int? capacity)
    {
        RedisKey[] keys = capacity is null
            ? [_keys.Sessions, _keys.Counts, _keys.Owners, _keys.Free]
            : [_keys.Sessions, _keys.Counts, _keys.Owners, _keys.Free, _keys.Capacities];
        RedisValue[] args = capacity is { } value ? [session, value] : [];
        var items = (RedisResult[])(await RunAsync("loads", keys, args).ConfigureAwait(false))!;
        var sessions = new List<(string Session, int Owned, int Capacity)>((items.Length - 2) / 3);
        for (var i = 2; i + 2 < items.Length; i += 3)
        {
            sessions.Add(((string)items[i]!, (int)items[i + 1], (int)items[i + 2]));
        }

        return new PartitionLoadReply((long)items[0], (long)items[1], sessions);
    }

    private async Task<ClaimReply> ClaimAsync(IReadOnlyList<RedisValue> args)
    {
        var items = (RedisResult[])(await RunAsync("claim",
            [_keys.Lbs, _keys.Sessions, _keys.Owners, _keys.Owned, _keys.Counts, _keys.Free, _keys.Fence], [.. args]).ConfigureAwait(false))!;

        var results = new List<ClaimResult>(Math.Max(0, items.Length - 4));
        for (var i = 4; i < items.Length; i++)
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

        return new ClaimReply((long)items[0], (long)items[1], (long)items[2], (long)items[3] == 1, results);
    }

    private Task<RedisResult> RunAsync(string script, RedisKey[] keys, RedisValue[] args) =>
        _db.ScriptEvaluateAsync(ScriptSource.Get(script), keys, args);

    private static WriteOutcome Outcome(long result, long done, long notOwner) =>
        result == done ? WriteOutcome.Done : result == notOwner ? WriteOutcome.NotOwner : WriteOutcome.SessionDead;

    private static SessionReply SessionFrom(RedisResult result)
    {
        var items = (RedisResult[])result!;
        return new SessionReply((long)items[0], (long)items[1]);
    }

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
