using System.Globalization;
using RecoverableStreams.Keys;
using RecoverableStreams.Parsing;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.Administration;

/// <summary>A consumer's session as <c>{L}:sessions</c> holds it, with the streams <c>{L}:counts</c> gives it.</summary>
internal sealed record SessionRecord(string Session, string ConsumerId, string SessionId, long DeadlineMs, long OwnedStreams);

/// <summary>The counts of the load-balancer stream and the dead-letter stream.</summary>
internal sealed record LbsCounts(long Length, long? Lag, long Pending, long Owned, long DeadLetters);

/// <summary>What the replay script answered.</summary>
internal sealed record ReplayReply(DeadLetterReplayOutcome Outcome, string? NewIdInLbs);

/// <summary>
/// Every Redis read and write of the operator API, in one place: the only class of it that knows the key layout and
/// the session-lease records it reports on (docs/ARCHITECTURE.md, "Data model"): sessions in <c>{L}:sessions</c>
/// (member <c>consumerId|random</c>, score = deadline), one ownership record per stream in <c>{L}:owners</c>
/// (<c>sessionId|token</c>), per-session counts in <c>{L}:counts</c>. A change of that model changes this file and the
/// scripts it runs (<c>force_release.lua</c>, <c>replay_dead_letter.lua</c>), nothing else. The writes go through Lua
/// scripts, so each is one atomic step beside the consumers' own scripts.
/// </summary>
internal sealed class ControlPlaneQueries
{
    // Pipelined reads per round trip when listing owners: bounded, so a large fleet never builds one huge batch.
    private const int OwnerBatch = 500;

    private readonly IDatabase _db;
    private readonly StreamKeys _keys;
    private readonly LbsEntryParser _parser;

    public ControlPlaneQueries(IDatabase db, StreamKeys keys, LbsEntryParser parser)
    {
        _db = db;
        _keys = keys;
        _parser = parser;
    }

    public StreamKeys Keys => _keys;

    /// <summary>Redis's clock in Unix milliseconds: heartbeats and deadlines are written on it.</summary>
    public async Task<long> ServerTimeMsAsync()
    {
        var reply = (RedisResult[])(await _db.ExecuteAsync("TIME").ConfigureAwait(false))!;
        var seconds = long.Parse((string)reply[0]!, CultureInfo.InvariantCulture);
        var micros = long.Parse((string)reply[1]!, CultureInfo.InvariantCulture);
        return (seconds * 1000) + (micros / 1000);
    }

    public async Task<LbsCounts> ReadCountsAsync()
    {
        var length = _db.StreamLengthAsync(_keys.Lbs);
        var dead = _db.StreamLengthAsync(_keys.Dead);
        var owned = _db.HashLengthAsync(_keys.Owners);
        var groups = ReadGroupsAsync();
        await Task.WhenAll(length, dead, owned, groups).ConfigureAwait(false);

        var group = groups.Result.FirstOrDefault(g => string.Equals(g.Name, _keys.Group, StringComparison.Ordinal));
        return group.Name is null
            ? new LbsCounts(length.Result, null, 0, owned.Result, dead.Result)
            : new LbsCounts(length.Result, group.Lag, group.PendingMessageCount, owned.Result, dead.Result);
    }

    /// <summary>Every session (live, or dead with streams not yet taken over) and how many streams it owns.</summary>
    public async Task<IReadOnlyList<SessionRecord>> ReadSessionsAsync()
    {
        var sessions = _db.SortedSetRangeByRankWithScoresAsync(_keys.Sessions);
        var counts = _db.HashGetAllAsync(_keys.Counts);
        await Task.WhenAll(sessions, counts).ConfigureAwait(false);

        var owned = counts.Result.ToDictionary(c => (string)c.Name!, c => (long)c.Value, StringComparer.Ordinal);
        return sessions.Result.Select(m =>
        {
            var session = (string)m.Element!;
            var (consumer, suffix) = SplitLast(session);
            return new SessionRecord(session, consumer, suffix, (long)m.Score, Math.Max(0, owned.GetValueOrDefault(session)));
        }).ToArray();
    }

    /// <summary>
    /// Up to <paramref name="limit"/> ownership records, with their sessions' deadlines and their LBS entries' data
    /// stream names: the records are scanned in pages (never one huge reply) and the scan stops at the limit, so the
    /// reads are bounded whatever the number of owned streams; each page's LBS entries are read in one pipelined batch.
    /// </summary>
    /// <param name="limit">The most records to read; <see cref="int.MaxValue"/> reads them all.</param>
    /// <param name="deadlines">Each session's deadline, read once for all partitions.</param>
    /// <param name="idOf">Turns an entry id of this partition into the id applications see.</param>
    public async Task<IReadOnlyList<StreamOwner>> ReadOwnersAsync(int limit, IReadOnlyDictionary<string, long> deadlines, Func<string, string> idOf)
    {
        var records = new List<HashEntry>();
        if (limit > 0)
        {
            await foreach (var record in _db.HashScanAsync(_keys.Owners, pageSize: Math.Min(limit, OwnerBatch)).ConfigureAwait(false))
            {
                records.Add(record);
                if (records.Count >= limit)
                {
                    break;
                }
            }
        }

        var owners = new List<StreamOwner>(records.Count);
        foreach (var chunk in records.Chunk(OwnerBatch))
        {
            var reads = chunk.Select(r => (Record: r, Entry: _db.StreamRangeAsync(_keys.Lbs, r.Name, r.Name, 1))).ToArray();
            await Task.WhenAll(reads.Select(r => r.Entry)).ConfigureAwait(false);
            foreach (var (record, entry) in reads)
            {
                owners.Add(ToOwner((string)record.Name!, (string)record.Value!, entry.Result, deadlines, idOf));
            }
        }

        return owners;
    }

    /// <summary>The ownership records of these entries (those that have one), each read with one HGET and one XRANGE.</summary>
    public async Task<IReadOnlyList<StreamOwner>> ReadOwnersOfAsync(IReadOnlyCollection<string> entryIds, IReadOnlyDictionary<string, long> deadlines, Func<string, string> idOf)
    {
        var reads = entryIds.Select(id => (Id: id, Record: _db.HashGetAsync(_keys.Owners, id), Entry: _db.StreamRangeAsync(_keys.Lbs, id, id, 1))).ToArray();
        await Task.WhenAll(reads.SelectMany(r => new Task[] { r.Record, r.Entry })).ConfigureAwait(false);
        return reads.Where(r => !r.Record.Result.IsNull)
            .Select(r => ToOwner(r.Id, (string)r.Record.Result!, r.Entry.Result, deadlines, idOf))
            .ToArray();
    }

    /// <summary>The entry id of the live announcement of a data stream, from <c>{L}:names</c>.</summary>
    public async Task<string?> ReadAnnouncementAsync(string dataStreamName)
    {
        var id = await _db.HashGetAsync(_keys.Names, dataStreamName).ConfigureAwait(false);
        return id.IsNull ? null : (string)id!;
    }

    /// <summary>Each session's deadline (ms, Redis clock).</summary>
    public async Task<IReadOnlyList<(string Session, long DeadlineMs)>> ReadDeadlinesAsync() =>
        (await _db.SortedSetRangeByRankWithScoresAsync(_keys.Sessions).ConfigureAwait(false))
            .Select(m => ((string)m.Element!, (long)m.Score))
            .ToArray();

    private StreamOwner ToOwner(string entryId, string recordValue, StreamEntry[] entry, IReadOnlyDictionary<string, long> deadlines, Func<string, string> idOf)
    {
        var (session, tokenText) = SplitLast(recordValue);
        var (consumer, suffix) = SplitLast(session);
        var token = long.TryParse(tokenText, NumberStyles.None, CultureInfo.InvariantCulture, out var t) ? t : 0;
        // A record whose session is gone is an orphan about to be taken over: its deadline is past.
        var deadline = deadlines.GetValueOrDefault(session);
        return new StreamOwner(DataStreamName(entry), idOf(entryId), consumer, suffix, token, DateTimeOffset.FromUnixTimeMilliseconds(deadline));
    }

    /// <summary>Up to <paramref name="count"/> dead letters after <paramref name="after"/> (an entry id), and whether more follow.</summary>
    public async Task<(IReadOnlyList<DeadLetter> Items, bool More)> ReadDeadLettersAsync(string? after, int count)
    {
        var start = after is null ? "-" : "(" + after;
        // One more than asked for tells whether a next page exists without a second round trip.
        var entries = await _db.StreamRangeAsync(_keys.Dead, start, "+", count + 1).ConfigureAwait(false);
        return (entries.Take(count).Select(ToDeadLetter).ToArray(), entries.Length > count);
    }

    public async Task<ReplayReply> ReplayAsync(string deadLetterId)
    {
        // The name is read here (the parser is C#); the script checks again that the dead letter exists.
        var letter = await _db.StreamRangeAsync(_keys.Dead, deadLetterId, deadLetterId, 1).ConfigureAwait(false);
        if (letter.Length == 0)
        {
            return new ReplayReply(DeadLetterReplayOutcome.NotFound, null);
        }

        var name = ToDeadLetter(letter[0]).DataStreamName ?? "";
        var reply = (RedisResult[])(await _db.ScriptEvaluateAsync(ScriptSource.Get("replay_dead_letter"),
            [_keys.Dead, _keys.Lbs, _keys.Names, _keys.Events], [deadLetterId, name]).ConfigureAwait(false))!;
        return (string)reply[0]! switch
        {
            "replayed" => new ReplayReply(DeadLetterReplayOutcome.Replayed, (string)reply[1]!),
            "live" => new ReplayReply(DeadLetterReplayOutcome.AlreadyAnnounced, (string)reply[1]!),
            "nofields" => new ReplayReply(DeadLetterReplayOutcome.NoOriginalFields, null),
            _ => new ReplayReply(DeadLetterReplayOutcome.NotFound, null),
        };
    }

    public Task<long> DeleteDeadLettersAsync(IReadOnlyCollection<string> ids) =>
        _db.StreamDeleteAsync(_keys.Dead, ids.Select(id => (RedisValue)id).ToArray());

    /// <summary>Deletes the dead-letter stream; returns how many entries it held, read in the same transaction.</summary>
    public async Task<long> DeleteAllDeadLettersAsync()
    {
        var transaction = _db.CreateTransaction();
        var length = transaction.StreamLengthAsync(_keys.Dead);
        _ = transaction.KeyDeleteAsync(_keys.Dead);
        await transaction.ExecuteAsync().ConfigureAwait(false);
        return await length.ConfigureAwait(false);
    }

    /// <summary>Removes the ownership records of these LBS entries; returns the ids that had one.</summary>
    public async Task<IReadOnlyList<string>> ForceReleaseAsync(IReadOnlyCollection<string> idsInLbs)
    {
        var reply = (RedisResult[])(await _db.ScriptEvaluateAsync(ScriptSource.Get("force_release"),
            [_keys.Owners, _keys.Owned, _keys.Counts, _keys.Free, _keys.Events], idsInLbs.Select(id => (RedisValue)id).ToArray()).ConfigureAwait(false))!;
        var released = new List<string>(reply.Length / 2);
        for (var i = 0; i + 1 < reply.Length; i += 2)
        {
            released.Add((string)reply[i]!);
        }

        return released;
    }

    private async Task<StreamGroupInfo[]> ReadGroupsAsync()
    {
        if (!await _db.KeyExistsAsync(_keys.Lbs).ConfigureAwait(false))
        {
            return []; // XINFO GROUPS fails on a missing key; nothing has been announced yet.
        }

        return await _db.StreamGroupInfoAsync(_keys.Lbs).ConfigureAwait(false);
    }

    private DeadLetter ToDeadLetter(StreamEntry entry)
    {
        const string Original = "original.";
        var original = new Dictionary<string, string>(StringComparer.Ordinal);
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var value in entry.Values)
        {
            var name = (string)value.Name!;
            if (name.StartsWith(Original, StringComparison.Ordinal))
            {
                original[name[Original.Length..]] = (string?)value.Value ?? "";
            }
            else
            {
                fields[name] = (string?)value.Value ?? "";
            }
        }

        var parsed = original.Count == 0 ? null : _parser.Parse(original.Select(f => new KeyValuePair<string, RedisValue>(f.Key, f.Value)).ToArray());
        return new DeadLetter(
            (string)entry.Id!,
            fields.GetValueOrDefault("lbs-id", ""),
            parsed?.DataStreamName,
            fields.GetValueOrDefault("reason", ""),
            fields.GetValueOrDefault("consumer", ""),
            long.TryParse(fields.GetValueOrDefault("attempts"), NumberStyles.None, CultureInfo.InvariantCulture, out var attempts) ? attempts : 0,
            DateTimeOffset.FromUnixTimeMilliseconds(long.TryParse(fields.GetValueOrDefault("time"), NumberStyles.None, CultureInfo.InvariantCulture, out var ms) ? ms : 0),
            original);
    }

    private string? DataStreamName(StreamEntry[] entries) =>
        entries.Length == 0 ? null : _parser.Parse(entries[0].Values.Select(v => new KeyValuePair<string, RedisValue>((string)v.Name!, v.Value)).ToArray()).DataStreamName;

    /// <summary>Splits <c>a|b</c> at its last bar: the random session suffix and the token never contain one.</summary>
    private static (string Head, string Tail) SplitLast(string value)
    {
        var bar = value.LastIndexOf('|');
        return bar < 0 ? (value, "") : (value[..bar], value[(bar + 1)..]);
    }
}
