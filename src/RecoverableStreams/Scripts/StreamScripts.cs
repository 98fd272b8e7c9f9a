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
    private readonly EntryLimits _limits;
    private readonly RetentionRule _retention;
    private readonly ReplicaAcknowledgement? _replicas;

    /// <param name="db">Where the scripts run.</param>
    /// <param name="keys">The LBS and control keys they work on.</param>
    /// <param name="limits">
    /// The entry limits the scripts enforce (read_acquire refuses entries over them; dead letters copy at most this
    /// much); the defaults of <see cref="RecoverableStreamOptions"/> when not given.
    /// </param>
    /// <param name="retention">What completion and dead letters do to data streams; kept when not given.</param>
    /// <param name="replicas">
    /// Asks a replica to acknowledge completions (<see cref="WriteOutcome.Unreplicated"/> when none did); without it a
    /// completion the primary took is done.
    /// </param>
    public StreamScripts(IDatabaseAsync db, StreamKeys keys, EntryLimits? limits = null, RetentionRule? retention = null, ReplicaAcknowledgement? replicas = null)
    {
        _db = db;
        _keys = keys;
        _limits = limits ?? EntryLimits.Default;
        _retention = retention ?? RetentionRule.Keep;
        _replicas = replicas;
    }

    public StreamKeys Keys => _keys;

    /// <summary>How long a completion waits for a replica's acknowledgement (zero: not asked for).</summary>
    public TimeSpan ReplicaWait => _replicas?.Timeout ?? TimeSpan.Zero;

    public async Task<SessionReply> OpenSessionAsync(string session, TimeSpan lease) =>
        SessionFrom(await RunAsync("open_session", [_keys.Sessions], [session, Milliseconds(lease)]).ConfigureAwait(false));

    /// <summary>Extends a live session; refused (<see cref="SessionReply.Accepted"/> false) when it is dead or gone.</summary>
    public async Task<SessionReply> RenewAsync(string session, TimeSpan lease) =>
        SessionFrom(await RunAsync("renew", [_keys.Sessions, _keys.Counts], [session, Milliseconds(lease)]).ConfigureAwait(false));

    /// <summary>
    /// One page of the streams Redis records for a session, from its index (<c>{L}:owned</c>, members
    /// <c>session\0id</c>), with each stream's record value; ids after <paramref name="afterId"/>, at most
    /// <paramref name="count"/>.
    /// </summary>
    public async Task<IReadOnlyList<(string Id, string? Record)>> OwnedPageAsync(string session, string? afterId, int count)
    {
        var prefix = session + "\0";
        var members = await _db.SortedSetRangeByValueAsync(
            _keys.Owned,
            afterId is null ? prefix : prefix + afterId,
            session + "\u0001",
            afterId is null ? Exclude.Stop : Exclude.Both,
            Order.Ascending,
            skip: 0,
            take: count).ConfigureAwait(false);
        if (members.Length == 0)
        {
            return [];
        }

        var ids = members.Select(m => ((string)m!)[prefix.Length..]).ToArray();
        var records = await _db.HashGetAsync(_keys.Owners, ids.Select(id => (RedisValue)id).ToArray()).ConfigureAwait(false);
        return ids.Select((id, i) => (id, (string?)records[i])).ToArray();
    }

    /// <summary>
    /// Closes a session on shutdown (<c>close_session.lua</c>): removed, or dead at once when it still owns streams, so
    /// peers take them now; the wake-up names <paramref name="left"/>, the streams it leaves.
    /// </summary>
    public async Task<CloseOutcome> CloseSessionAsync(string session, IReadOnlyCollection<string>? left = null)
    {
        var args = new RedisValue[1 + (left?.Count ?? 0)];
        args[0] = session;
        var i = 1;
        foreach (var id in left ?? [])
        {
            args[i++] = id;
        }

        var result = (long)await RunAsync("close_session", [_keys.Sessions, _keys.Counts, _keys.Events, _keys.Owned], args).ConfigureAwait(false);
        return result switch
        {
            1 => CloseOutcome.Removed,
            0 => CloseOutcome.MarkedDead,
            _ => CloseOutcome.Missing,
        };
    }

    public async Task<ReadAcquireReply> ReadAndAcquireAsync(string consumer, string session, int count, int deadLetterMaxLength)
    {
        var reply = await RunAsync("read_acquire",
            [_keys.Lbs, _keys.Sessions, _keys.Owners, _keys.Owned, _keys.Counts, _keys.Fence, _keys.Names, _keys.Dead],
            [_keys.Group, consumer, Math.Min(count, MaxItemsPerCall), session, _limits.MaxPayloadBytes, deadLetterMaxLength, _limits.MaxFields]).ConfigureAwait(false);

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

        var refusedItems = (RedisResult[])items[5]!;
        var refused = new List<RefusedEntry>(refusedItems.Length / 2);
        for (var i = 0; i + 1 < refusedItems.Length; i += 2)
        {
            refused.Add(new RefusedEntry((string)refusedItems[i]!, (string)refusedItems[i + 1]!));
        }

        return new ReadAcquireReply((long)items[0], (long)items[1], (long)items[2] == 1, entries, duplicates, refused);
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

    /// <summary>
    /// Claims streams that need an owner, up to <paramref name="freeCapacity"/> and 1,000, and the fair share of what is
    /// left when the call runs; with <paramref name="capacityIsShare"/>, the capacity already is the caller's fair share
    /// (the rest of a wake-up's share, computed from its first call) and is not capped again.
    /// </summary>
    public Task<ClaimReply> ClaimOrphansAsync(string consumer, string session, int freeCapacity, bool capacityIsShare = false) =>
        ClaimAsync([_keys.Group, consumer, session, "orphans", Math.Min(freeCapacity, MaxItemsPerCall), capacityIsShare ? "share" : "left"]);

    public async Task<FindOrphansReply> FindOrphansAsync(string? session, long offset, int max)
    {
        var items = (RedisResult[])(await RunAsync("find_orphans",
            [_keys.Lbs, _keys.Sessions, _keys.Owners, _keys.Owned, _keys.Counts, _keys.Free, _keys.ReleasedBy],
            [session ?? "", offset, Math.Min(max, MaxItemsPerCall), _limits.MaxPayloadBytes, _limits.MaxFields]).ConfigureAwait(false))!;
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
        var placement = _retention.PlacementOf(dataStreamName, _keys, _db.Multiplexer);
        RedisKey[] keys = [_keys.Lbs, _keys.Sessions, _keys.Owners, _keys.Owned, _keys.Counts, _keys.Free, _keys.Attempts, _keys.Checkpoint(id), _keys.Names];
        var complete = () => RunAsync("complete",
            placement == RetentionPlacement.InScript ? [.. keys, dataStreamName] : keys,
            [_keys.Group, id, session, recordValue, dataStreamName, _retention.Mode, _retention.PeriodMs]);
        var (reply, replicated) = _replicas is null ? (await complete().ConfigureAwait(false), true) : await _replicas.WriteAsync(complete).ConfigureAwait(false);
        var result = (long)reply;
        // 2: the entry and its record are gone already (this completion's earlier call took effect): done, once.
        var outcome = Outcome(result == 2 ? 1 : result, done: 1, notOwner: 0);
        await RetainAfterAsync(outcome, placement, dataStreamName).ConfigureAwait(false);
        return outcome == WriteOutcome.Done && !replicated ? WriteOutcome.Unreplicated : outcome;
    }

    /// <summary>Returns the dead letter's id with <see cref="WriteOutcome.Done"/>, or the refusal.</summary>
    public async Task<(WriteOutcome Outcome, string? DeadId)> DeadLetterAsync(string id, string session, string recordValue, string? dataStreamName, string reason, string consumer, int maxLength)
    {
        var placement = _retention.PlacementOf(dataStreamName, _keys, _db.Multiplexer);
        RedisKey[] keys = [_keys.Lbs, _keys.Sessions, _keys.Owners, _keys.Owned, _keys.Counts, _keys.Free, _keys.Attempts, _keys.Checkpoint(id), _keys.Names, _keys.Dead];
        var result = await RunAsync("dead_letter",
            placement == RetentionPlacement.InScript ? [.. keys, dataStreamName!] : keys,
            [_keys.Group, id, session, recordValue, dataStreamName ?? "", reason, consumer, maxLength, _limits.MaxPayloadBytes, _limits.MaxFields, _retention.Mode, _retention.PeriodMs]).ConfigureAwait(false);
        if (result.Resp2Type == ResultType.Integer)
        {
            return ((long)result == 0 ? WriteOutcome.NotOwner : WriteOutcome.SessionDead, null);
        }

        await RetainAfterAsync(WriteOutcome.Done, placement, dataStreamName).ConfigureAwait(false);
        return (WriteOutcome.Done, (string?)result);
    }

    /// <summary>
    /// The retention of a data stream on another slot of a Redis Cluster, right after its completion or dead letter.
    /// Not atomic with it: a crash between the two leaves the data stream kept (docs/OPERATIONS.md).
    /// </summary>
    private async Task RetainAfterAsync(WriteOutcome outcome, RetentionPlacement placement, string? dataStreamName)
    {
        if (outcome != WriteOutcome.Done || placement != RetentionPlacement.AfterScript)
        {
            return;
        }

        try
        {
            await RunAsync("retain_data_stream", [dataStreamName!], [_retention.Mode, _retention.PeriodMs]).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
        {
            // The stream ended; only its clean-up failed. Its data is kept, which loses nothing.
        }
    }

    /// <summary>Releases up to <see cref="MaxItemsPerCall"/> streams of one session and wakes peers; returns the ids released.</summary>
    public async Task<IReadOnlyList<string>> ReleaseAsync(string session, IReadOnlyCollection<(string Id, string Value)> leases)
    {
        if (leases.Count > MaxItemsPerCall)
        {
            throw new ArgumentOutOfRangeException(nameof(leases), leases.Count, $"At most {MaxItemsPerCall} streams per call.");
        }

        return await ReleasePageAsync(session, leases, ReleaseCall.Wake, alsoNamed: []).ConfigureAwait(false);
    }

    /// <summary>
    /// Releases any number of streams of one session in one pipelined flight: pages of at most
    /// <see cref="MaxItemsPerCall"/> sent together, of which only the last wakes peers, with one message that names
    /// every stream released. The calls run in order on one connection, so the wake-up follows every release. Returns
    /// the ids released; throws when any call failed (the others may have released theirs; a release is
    /// ownership-checked, so sending the same leases again is harmless).
    /// </summary>
    /// <param name="session">The session whose records are released.</param>
    /// <param name="leases">The streams and their record values.</param>
    public async Task<IReadOnlyList<string>> ReleaseManyAsync(string session, IReadOnlyList<(string Id, string Value)> leases)
    {
        if (leases.Count <= MaxItemsPerCall)
        {
            return await ReleasePageAsync(session, leases, ReleaseCall.Wake, alsoNamed: []).ConfigureAwait(false);
        }

        var pages = leases.Chunk(MaxItemsPerCall).ToArray();
        var calls = new Task<IReadOnlyList<string>>[pages.Length];
        for (var i = 0; i < pages.Length; i++)
        {
            var last = i == pages.Length - 1;
            // The last call names the earlier pages' ids too (those it did not release itself only wake peers early).
            var earlier = last ? leases.Take(i * MaxItemsPerCall).Select(l => l.Id).ToArray() : [];
            calls[i] = ReleasePageAsync(session, pages[i], last ? ReleaseCall.Wake : ReleaseCall.Quiet, alsoNamed: earlier);
        }

        var released = await Task.WhenAll(calls).ConfigureAwait(false);
        return released.SelectMany(r => r).ToArray();
    }

    private async Task<IReadOnlyList<string>> ReleasePageAsync(string session, IReadOnlyCollection<(string Id, string Value)> page, ReleaseCall call, string[] alsoNamed)
    {
        var args = new List<RedisValue>(3 + (page.Count * 2) + alsoNamed.Length) { session, (int)call, page.Count };
        foreach (var (id, value) in page)
        {
            args.Add(id);
            args.Add(value);
        }

        args.AddRange(alsoNamed.Select(id => (RedisValue)id));
        var items = (RedisResult[])(await RunAsync("release",
            [_keys.Sessions, _keys.Owners, _keys.Owned, _keys.Counts, _keys.Free, _keys.Events, _keys.ReleasedBy], [.. args]).ConfigureAwait(false))!;
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
        var sessions = new List<(string Session, int Owned, int Capacity)>((items.Length - 3) / 3);
        for (var i = 3; i + 2 < items.Length; i += 3)
        {
            sessions.Add(((string)items[i]!, (int)items[i + 1], (int)items[i + 2]));
        }

        return new PartitionLoadReply((long)items[0], (long)items[1], (long)items[2], sessions);
    }

    private async Task<ClaimReply> ClaimAsync(IReadOnlyList<RedisValue> args)
    {
        var items = (RedisResult[])(await RunAsync("claim",
            [_keys.Lbs, _keys.Sessions, _keys.Owners, _keys.Owned, _keys.Counts, _keys.Free, _keys.Fence, _keys.ReleasedBy], [.. args]).ConfigureAwait(false))!;

        // After the six header items, five per stream (flat: nested replies cost the script a table per stream).
        var results = new List<ClaimResult>(Math.Max(0, (items.Length - 6) / 5));
        for (var i = 6; i + 4 < items.Length; i += 5)
        {
            var id = (string)items[i]!;
            results.Add((string)items[i + 1]! switch
            {
                "claimed" => new ClaimResult(id, ClaimStatus.Claimed, new AcquiredEntry(id, (long)items[i + 2], Fields(items[i + 3]), (string?)items[i + 4]), null),
                "owned" => new ClaimResult(id, ClaimStatus.Owned, null, (string?)items[i + 2]),
                _ => new ClaimResult(id, ClaimStatus.NotFound, null, null),
            });
        }

        return new ClaimReply((long)items[0], (long)items[1], (long)items[2], (long)items[3] == 1, (long)items[4] == 1, (long)items[5], results);
    }

    private Task<RedisResult> RunAsync(string script, RedisKey[] keys, RedisValue[] args) =>
        _db.ScriptEvaluateAsync(ScriptSource.Get(script), keys, args);

    private static WriteOutcome Outcome(long result, long done, long notOwner) =>
        result == done ? WriteOutcome.Done : result == notOwner ? WriteOutcome.NotOwner : WriteOutcome.SessionDead;

    private static SessionReply SessionFrom(RedisResult result)
    {
        var items = (RedisResult[])result!;
        return new SessionReply((long)items[0], (long)items[1], items.Length > 2 ? (long)items[2] : 0);
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

    /// <summary>What one <c>release.lua</c> call of a flight does besides releasing (its ARGV[2]).</summary>
    private enum ReleaseCall
    {
        /// <summary>An earlier page: the last one wakes peers for it.</summary>
        Quiet = 0,

        /// <summary>The last page: wakes peers, naming every stream of the flight.</summary>
        Wake = 1,
    }
}
