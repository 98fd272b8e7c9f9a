using System.Text.Json;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.Assignment;

/// <summary>
/// Refuses to start beside a consumer of the Go library redis-stream-client-go on the same group
/// (docs/MIGRATING-FROM-GO.md). Both read the same load-balancer stream through the same group, but their lease models
/// differ: the Go library holds one key per stream (<c>&lt;data stream&gt;&lt;MUTEX_KEY_SEP&gt;&lt;entry id&gt;</c>,
/// a redsync mutex), this library an ownership record in <c>{L}:owners</c> tied to a session. Neither sees the other's
/// lease, so both could own one stream. The evidence looked for is positive, so a crashed .NET peer is never taken for
/// a Go one: an entry pending to a consumer of the group, with no ownership record of ours, whose Go lease key exists.
/// A Go consumer whose lease has expired is not a live owner: its entries are recovered like any orphan.
/// </summary>
/// <remarks>
/// Bounded: one <c>XINFO STREAM FULL COUNT 16</c>, then for at most <see cref="MaxConsumers"/> consumers one HMGET of
/// their oldest <see cref="EntriesPerConsumer"/> pending entries' records, and for an entry without a record one XRANGE
/// and one EXISTS.
/// </remarks>
internal static class GoConsumerDetector
{
    /// <summary>The separator of the Go library's lease keys (its configs.MutexKeySep).</summary>
    public const string MutexKeySeparator = "<MUTEX_KEY_SEP>";

    private const int MaxConsumers = 64;
    private const int EntriesPerConsumer = 16;

    /// <summary>Throws <see cref="RecoverableStreamsException"/> naming the Go consumer when one holds a live lease on <paramref name="keys"/>.</summary>
    public static async Task ThrowIfPresentAsync(IDatabase database, StreamKeys keys)
    {
        GoLease? found;
        try
        {
            found = await FindAsync(database, keys).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("NOPERM", StringComparison.Ordinal))
        {
            // An ACL user without XINFO STREAM (docs/SECURITY.md lists it): no evidence either way, so no refusal.
            return;
        }
        catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
        {
            throw new RecoverableStreamsException($"Cannot check group '{keys.Group}' for Go-library consumers: {ex.Message}", ex);
        }

        if (found is { } go)
        {
            throw new RecoverableStreamsException(
                $"Consumer '{go.Consumer}' of group '{keys.Group}' holds entry {go.EntryId} ('{go.DataStreamName}') under a " +
                $"redis-stream-client-go lease (key '{go.LeaseKey}'): a Go-library consumer shares this group. Its lease model " +
                "differs from this library's, so both could own one stream; this worker will not start beside it. Drain and " +
                "stop the Go consumers first, or give this service another ServiceName: see docs/MIGRATING-FROM-GO.md.");
        }
    }

    /// <summary>The first entry held under a live Go lease, or <see langword="null"/>.</summary>
    public static async Task<GoLease?> FindAsync(IDatabase database, StreamKeys keys)
    {
        // One read-only call lists every consumer of every group with the oldest entries of its pending list.
        RedisResult info;
        try
        {
            info = await database.ExecuteAsync("XINFO", "STREAM", keys.Lbs, "FULL", "COUNT", EntriesPerConsumer).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.Contains("no such key", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var group = Items(Field(info, "groups")).FirstOrDefault(g => (string?)Field(g, "name") == keys.Group);
        foreach (var consumer in Items(group is null ? null : Field(group, "consumers")).Take(MaxConsumers))
        {
            var pending = Items(Field(consumer, "pending")).Select(p => (RedisValue)(string?)Items(p).First()).ToArray();
            if (pending.Length == 0)
            {
                continue;
            }

            var consumerName = (string?)Field(consumer, "name") ?? "";
            var records = await database.HashGetAsync(keys.Owners, pending).ConfigureAwait(false);
            for (var i = 0; i < pending.Length; i++)
            {
                if (!records[i].IsNull)
                {
                    continue;   // ours: an ownership record names a session of this library
                }

                var entryId = pending[i].ToString();
                var name = await DataStreamNameAsync(database, keys.Lbs, entryId).ConfigureAwait(false);
                if (name is null)
                {
                    continue;
                }

                var leaseKey = name + MutexKeySeparator + entryId;
                if (await LeaseKeyExistsAsync(database, leaseKey).ConfigureAwait(false))
                {
                    return new GoLease(consumerName, entryId, name, leaseKey);
                }
            }
        }

        return null;
    }

    /// <summary>The value under <paramref name="name"/> in a reply of field/value pairs (XINFO's maps), or null.</summary>
    private static RedisResult? Field(RedisResult? reply, string name)
    {
        var items = Items(reply);
        for (var i = 0; i + 1 < items.Length; i += 2)
        {
            if ((string?)items[i] == name)
            {
                return items[i + 1];
            }
        }

        return null;
    }

    private static RedisResult[] Items(RedisResult? reply) =>
        reply is { IsNull: false, Resp2Type: ResultType.Array } ? (RedisResult[])reply! : [];

    private static async Task<bool> LeaseKeyExistsAsync(IDatabase database, string leaseKey)
    {
        try
        {
            return await database.KeyExistsAsync(leaseKey).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("NOPERM", StringComparison.Ordinal))
        {
            return false;   // an ACL that does not cover the Go key pattern: no evidence either way
        }
    }

    private static async Task<string?> DataStreamNameAsync(IDatabase database, string lbs, string entryId)
    {
        var entries = await database.StreamRangeAsync(lbs, entryId, entryId, 1).ConfigureAwait(false);
        if (entries.Length == 0)
        {
            return null;
        }

        var payload = entries[0]["lbs-input"];
        if (payload.IsNullOrEmpty)
        {
            return null;
        }

        try
        {
            using var json = JsonDocument.Parse((string)payload!);
            return json.RootElement.ValueKind == JsonValueKind.Object
                && json.RootElement.TryGetProperty("DataStreamName", out var name)
                && name.ValueKind == JsonValueKind.String
                    ? name.GetString()
                    : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>An LBS entry held by a Go-library consumer under its live lease key.</summary>
internal sealed record GoLease(string Consumer, string EntryId, string DataStreamName, string LeaseKey);
