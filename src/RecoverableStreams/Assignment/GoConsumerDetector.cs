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
/// <remarks>Bounded: at most <see cref="MaxConsumers"/> consumers and <see cref="EntriesPerConsumer"/> entries each.</remarks>
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
        StreamPendingInfo summary;
        try
        {
            summary = await database.StreamPendingAsync(keys.Lbs, keys.Group).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.Contains("NOGROUP", StringComparison.Ordinal))
        {
            return null;
        }

        foreach (var consumer in summary.Consumers.Take(MaxConsumers))
        {
            var pending = await database.StreamPendingMessagesAsync(keys.Lbs, keys.Group, EntriesPerConsumer, consumer.Name).ConfigureAwait(false);
            if (pending.Length == 0)
            {
                continue;
            }

            var records = await database.HashGetAsync(keys.Owners, pending.Select(p => p.MessageId).ToArray()).ConfigureAwait(false);
            for (var i = 0; i < pending.Length; i++)
            {
                if (!records[i].IsNull)
                {
                    continue;   // ours: an ownership record names a session of this library
                }

                var entryId = pending[i].MessageId.ToString();
                var name = await DataStreamNameAsync(database, keys.Lbs, entryId).ConfigureAwait(false);
                if (name is null)
                {
                    continue;
                }

                var leaseKey = name + MutexKeySeparator + entryId;
                if (await LeaseKeyExistsAsync(database, leaseKey).ConfigureAwait(false))
                {
                    return new GoLease(consumer.Name.ToString(), entryId, name, leaseKey);
                }
            }
        }

        return null;
    }

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
