using System.Globalization;
using RecoverableStreams.Keys;
using RecoverableStreams.Parsing;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.Administration;

/// <summary>A consumer's heartbeat as the registry holds it.</summary>
internal sealed record HeartbeatRecord(string ConsumerId, string SessionId, long HeartbeatMs);

/// <summary>The counts of the load-balancer stream and the dead-letter stream.</summary>
internal sealed record LbsCounts(long Length, long? Lag, long Pending, long DeadLetters);

/// <summary>What the replay script answered.</summary>
internal sealed record ReplayReply(DeadLetterReplayOutcome Outcome, string? NewIdInLbs);

/// <summary>
/// Every Redis read and write of the operator API, in one place: the only class that knows the key layout and the
/// lease records the admin API reports on (DESIGN.md section 4). A change of the lease data model changes this file and
/// the scripts it runs (<c>force_release.lua</c>, <c>replay_dead_letter.lua</c>), nothing else. The two writes go
/// through Lua scripts, so each is one atomic step beside the consumers' own scripts.
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
        var groups = ReadGroupsAsync();
        await Task.WhenAll(length, dead, groups).ConfigureAwait(false);

        var group = groups.Result.FirstOrDefault(g => string.Equals(g.Name, _keys.Group, StringComparison.Ordinal));
        return group.Name is null
            ? new LbsCounts(length.Result, null, 0, dead.Result)
            : new LbsCounts(length.Result, group.Lag, group.PendingMessageCount, dead.Result);
    }

    /// <summary>Every consumer in the heartbeat registry (members <c>consumer|instance</c>, score = heartbeat ms).</summary>
    public async Task<IReadOnlyList<HeartbeatRecord>> ReadHeartbeatsAsync()
    {
        var members = await _db.SortedSetRangeByRankWithScoresAsync(_keys.Consumers).ConfigureAwait(false);
        return members.Select(m =>
        {
            var (consumer, session) = SplitLast((string)m.Element!);
            return new HeartbeatRecord(consumer, session, (long)m.Score);
        }).ToArray();
    }

    /// <summary>
    /// Every live lease: the deadline index names every entry that has or had one; each is read back (value, time to
    /// live, LBS entry) in pipelined batches. Entries whose lease is gone are waiting to be taken over and are skipped.
    /// </summary>
    public async Task<IReadOnlyList<StreamOwner>> ReadOwnersAsync(long nowMs)
    {
        var ids = await _db.SortedSetRangeByRankAsync(_keys.Deadlines).ConfigureAwait(false);
        var owners = new List<StreamOwner>();
        foreach (var chunk in ids.Chunk(OwnerBatch))
        {
            var reads = chunk.Select(id =>
            {
                var lease = (RedisKey)_keys.Lease((string)id!);
                return (Id: (string)id!, Value: _db.StringGetAsync(lease), Ttl: _db.KeyTimeToLiveAsync(lease), Entry: _db.StreamRangeAsync(_keys.Lbs, id, id, 1));
            }).ToArray();
            await Task.WhenAll(reads.SelectMany(r => new Task[] { r.Value, r.Ttl, r.Entry })).ConfigureAwait(false);

            foreach (var read in reads)
            {
                if (read.Value.Result.IsNull || read.Ttl.Result is not { } ttl)
                {
                    continue; // Released, expired or completed: no owner.
                }

                var (holder, tokenText) = SplitLast((string)read.Value.Result!);
                var (consumer, session) = SplitLast(holder);
                var token = long.TryParse(tokenText, NumberStyles.None, CultureInfo.InvariantCulture, out var t) ? t : 0;
                owners.Add(new StreamOwner(
                    DataStreamName(read.Entry.Result),
                    read.Id,
                    consumer,
                    session,
                    token,
                    DateTimeOffset.FromUnixTimeMilliseconds(nowMs + (long)ttl.TotalMilliseconds)));
            }
        }

        return owners;
    }

    public async Task<DeadLetterPage> ReadDeadLettersAsync(string? after, int count)
    {
        var start = after is null ? "-" : "(" + after;
        // One more than asked for tells whether a next page exists without a second round trip.
        var entries = await _db.StreamRangeAsync(_keys.Dead, start, "+", count + 1).ConfigureAwait(false);
        var items = entries.Take(count).Select(ToDeadLetter).ToArray();
        return new DeadLetterPage(items, entries.Length > count ? items[^1].Id : null);
    }

    public async Task<ReplayReply> ReplayAsync(string deadLetterId)
    {
        var reply = (RedisResult[])(await _db.ScriptEvaluateAsync(ScriptSource.Get("replay_dead_letter"),
            [_keys.Dead, _keys.Lbs, _keys.Events], [deadLetterId]).ConfigureAwait(false))!;
        return (string)reply[0]! switch
        {
            "replayed" => new ReplayReply(DeadLetterReplayOutcome.Replayed, (string)reply[1]!),
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

    /// <summary>Removes the leases of these LBS entries; returns the ids that had one.</summary>
    public async Task<IReadOnlyList<string>> ForceReleaseAsync(IReadOnlyCollection<string> idsInLbs)
    {
        var args = new List<RedisValue>(1 + idsInLbs.Count) { _keys.LeasePrefix };
        args.AddRange(idsInLbs.Select(id => (RedisValue)id));
        var reply = (RedisResult[])(await _db.ScriptEvaluateAsync(ScriptSource.Get("force_release"),
            [_keys.Deadlines, _keys.Events], [.. args]).ConfigureAwait(false))!;
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

    /// <summary>Splits <c>a|b|c</c> at its last bar: consumer names may contain bars, the parts after them never do.</summary>
    private static (string Head, string Tail) SplitLast(string value)
    {
        var bar = value.LastIndexOf('|');
        return bar < 0 ? (value, "") : (value[..bar], value[(bar + 1)..]);
    }
}
