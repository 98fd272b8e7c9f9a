using System.Globalization;
using RecoverableStreams.Configuration;
using RecoverableStreams.Keys;
using RecoverableStreams.Parsing;
using StackExchange.Redis;

namespace RecoverableStreams.Administration;

/// <summary>
/// The operator's view of one service, read from and written to Redis directly: consumers and their heartbeats, who
/// owns which stream, the load-balancer stream's lag, the dead letters (listed, replayed, purged), and force-releasing
/// a stream. Needs no running consumer; the <c>rstreams</c> tool and the dashboard are built on it. Serves any
/// <see cref="RecoverableStreamOptions.Partitions"/>: give it the consumers' value.
/// </summary>
/// <remarks>
/// Reads are snapshots taken in a few round trips, not one atomic step: a stream completed while the owners are read
/// may be missing from the list. <see cref="GetStatusAsync"/> and <see cref="GetOwnerPageAsync"/> read a bounded amount
/// whatever the number of owned streams (counts, the sessions, and at most the page asked for); <see cref="GetOwnersAsync"/>
/// reads every ownership record, so keep it to operator use. Writes (replay, force-release) are Lua scripts, atomic
/// beside the consumers' own. With several partitions, ids are <c>&lt;partition&gt;:&lt;entry id&gt;</c>, as
/// <see cref="LbsInfo.IdInLbs"/> (dead-letter ids too), and dead letters are listed partition after partition.
/// </remarks>
public sealed class RecoverableStreamsAdmin
{
    private readonly Func<CancellationToken, ValueTask<IConnectionMultiplexer>> _connect;
    private readonly RecoverableStreamOptions _options;
    private readonly PartitionLayout _layout;
    private readonly LbsEntryParser _parser;

    /// <summary>Creates the operator API for the service named in <paramref name="options"/>.</summary>
    /// <param name="redis">The connection.</param>
    /// <param name="options">
    /// The same options the consumers use (service name, key overrides, partitions, database; the lease duration dates
    /// the last heartbeat).
    /// </param>
    /// <exception cref="ArgumentException">The options are invalid (the message names each problem).</exception>
    public RecoverableStreamsAdmin(IConnectionMultiplexer redis, RecoverableStreamOptions options)
        : this(Connected(redis), options)
    {
    }

    /// <summary>
    /// Creates the operator API over a connection that is made on first use (the hosting package passes its own
    /// connection provider): each call asks <paramref name="connect"/>, so a failed connection is tried again on the
    /// next call rather than remembered.
    /// </summary>
    /// <param name="connect">Returns the connection; called once per operation.</param>
    /// <param name="options">The same options the consumers use.</param>
    /// <exception cref="ArgumentException">The options are invalid (the message names each problem).</exception>
    public RecoverableStreamsAdmin(Func<CancellationToken, ValueTask<IConnectionMultiplexer>> connect, RecoverableStreamOptions options)
    {
        ArgumentNullException.ThrowIfNull(connect);
        RecoverableStreamOptionsValidator.ThrowIfInvalid(options);
        _connect = connect;
        _options = options;
        _layout = PartitionLayout.For(options);
        _parser = new LbsEntryParser(options);
    }

    /// <summary>Gets the service's name (<see cref="RecoverableStreamOptions.ServiceName"/>).</summary>
    /// <value>Never empty.</value>
    public string ServiceName => _options.ServiceName!;

    /// <summary>Gets the service's partition count, as the options gave it.</summary>
    /// <value>At least 1.</value>
    public int Partitions => _layout.Count;

    /// <summary>Reads the service's status: LBS length, lag and pending, dead letters, and each consumer's heartbeat.</summary>
    /// <param name="cancellationToken">Cancels before Redis is asked.</param>
    /// <returns>The status at Redis's current time, summed over the partitions.</returns>
    /// <exception cref="RecoverableStreamsException">Redis failed; the cause is the inner exception.</exception>
    public Task<ServiceStatus> GetStatusAsync(CancellationToken cancellationToken = default) =>
        RunAsync("Reading the status", async queries =>
        {
            var now = await queries[0].ServerTimeMsAsync().ConfigureAwait(false);
            var counts = Task.WhenAll(queries.Select(q => q.ReadCountsAsync()));
            var sessions = Task.WhenAll(queries.Select(q => q.ReadSessionsAsync()));
            await Task.WhenAll(counts, sessions).ConfigureAwait(false);

            var lease = (long)_options.LeaseDuration.TotalMilliseconds;
            // A session is renewed in every partition at once: one consumer, its latest deadline, its streams summed.
            var consumers = sessions.Result
                .SelectMany(s => s)
                .GroupBy(s => s.Session, StringComparer.Ordinal)
                .Select(g => g.First() with { DeadlineMs = g.Max(s => s.DeadlineMs), OwnedStreams = g.Sum(s => s.OwnedStreams) })
                .OrderBy(s => s.DeadlineMs)
                .Select(s => new ConsumerStatus(
                    s.ConsumerId,
                    s.SessionId,
                    DateTimeOffset.FromUnixTimeMilliseconds(Math.Max(0, s.DeadlineMs - lease)),
                    TimeSpan.FromMilliseconds(Math.Max(0, now - Math.Max(0, s.DeadlineMs - lease))),
                    DateTimeOffset.FromUnixTimeMilliseconds(s.DeadlineMs),
                    s.DeadlineMs > now,
                    s.OwnedStreams))
                .ToArray();
            var c = counts.Result;
            var lag = c.All(p => p.Lag is not null) ? c.Sum(p => p.Lag!.Value) : (long?)null;
            return new ServiceStatus(_options.ServiceName!, _layout.BaseLbsKey, queries[0].Keys.Group, DateTimeOffset.FromUnixTimeMilliseconds(now),
                c.Sum(p => p.Length), lag, c.Sum(p => p.Pending), c.Sum(p => p.Owned), c.Sum(p => p.DeadLetters), consumers)
            {
                Partitions = _layout.Count,
            };
        }, cancellationToken);

    /// <summary>Lists every ownership record, ordered by data stream name.</summary>
    /// <param name="cancellationToken">Cancels before Redis is asked.</param>
    /// <returns>Each owned stream with its owner, fencing token and deadline.</returns>
    /// <exception cref="RecoverableStreamsException">Redis failed; the cause is the inner exception.</exception>
    public async Task<IReadOnlyList<StreamOwner>> GetOwnersAsync(CancellationToken cancellationToken = default) =>
        (await GetOwnerPageAsync(int.MaxValue, cancellationToken).ConfigureAwait(false)).Items;

    /// <summary>
    /// Reads at most <paramref name="count"/> owned streams and how many there are in all: bounded reads (a scan that
    /// stops at the count, one pipelined LBS read per stream returned), whatever the number of owners.
    /// </summary>
    /// <param name="count">The most owners to return, at least 0.</param>
    /// <param name="cancellationToken">Cancels before Redis is asked.</param>
    /// <returns>The owners read, ordered by data stream name, and the total.</returns>
    /// <exception cref="RecoverableStreamsException">Redis failed; the cause is the inner exception.</exception>
    public Task<OwnerPage> GetOwnerPageAsync(int count, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return RunAsync("Reading the owners", async queries =>
        {
            var deadlines = await ReadDeadlinesAsync(queries).ConfigureAwait(false);
            var counts = await Task.WhenAll(queries.Select(q => q.ReadCountsAsync())).ConfigureAwait(false);
            var owners = new List<StreamOwner>();
            for (var i = 0; i < queries.Count && owners.Count < count; i++)
            {
                var partition = i;
                owners.AddRange(await queries[i].ReadOwnersAsync(count - owners.Count, deadlines, id => _layout.IdOf(partition, id)).ConfigureAwait(false));
            }

            var sorted = owners
                .OrderBy(o => o.DataStreamName, StringComparer.Ordinal)
                .ThenBy(o => o.IdInLbs, StringComparer.Ordinal)
                .ToArray();
            return new OwnerPage(sorted, Math.Max(counts.Sum(c => c.Owned), sorted.Length));
        }, cancellationToken);
    }

    /// <summary>Lists dead letters, oldest first (partition after partition), one page at a time.</summary>
    /// <param name="after">The <see cref="DeadLetterPage.Next"/> cursor of the previous page; <see langword="null"/> for the first page.</param>
    /// <param name="count">The page size, at least 1.</param>
    /// <param name="cancellationToken">Cancels before Redis is asked.</param>
    /// <returns>The page.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is less than 1.</exception>
    /// <exception cref="ArgumentException"><paramref name="after"/> names no partition of the service.</exception>
    /// <exception cref="RecoverableStreamsException">Redis failed; the cause is the inner exception.</exception>
    public Task<DeadLetterPage> GetDeadLettersAsync(string? after = null, int count = 100, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var (partition, entry) = (0, (string?)null);
        if (after is not null)
        {
            if (!_layout.TryParseId(after, out partition, out var parsed))
            {
                throw new ArgumentException($"'{after}' is not a dead-letter cursor of this service.", nameof(after));
            }

            entry = parsed;
        }

        return RunAsync("Reading the dead letters", async queries =>
        {
            var items = new List<DeadLetter>();
            for (var p = partition; p < queries.Count; p++)
            {
                var (page, more) = await queries[p].ReadDeadLettersAsync(p == partition ? entry : null, count - items.Count).ConfigureAwait(false);
                var index = p;
                items.AddRange(page.Select(d => d with { Id = _layout.IdOf(index, d.Id), IdInLbs = _layout.IdOf(index, d.IdInLbs) }));
                if (items.Count == count)
                {
                    // A full page: a next one exists when this partition has more, or a later one has any.
                    var next = more || await AnyDeadLetterAfterAsync(queries, p + 1).ConfigureAwait(false);
                    return new DeadLetterPage(items, next ? items[^1].Id : null);
                }
            }

            return new DeadLetterPage(items, null);
        }, cancellationToken);
    }

    /// <summary>
    /// Announces a dead letter again, as a new LBS entry with its original fields, and removes it from the dead
    /// letters, in one atomic step. The stream starts afresh: no attempts counted, no checkpoint.
    /// </summary>
    /// <param name="deadLetterId">The dead letter's <see cref="DeadLetter.Id"/>.</param>
    /// <param name="cancellationToken">Cancels before Redis is asked.</param>
    /// <returns>What happened, with the new LBS entry's id when it was replayed.</returns>
    /// <exception cref="RecoverableStreamsException">Redis failed; the cause is the inner exception.</exception>
    public Task<DeadLetterReplay> ReplayDeadLetterAsync(string deadLetterId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(deadLetterId);
        if (!_layout.TryParseId(deadLetterId, out var partition, out var entry) || !IsEntryId(entry))
        {
            return Task.FromResult(new DeadLetterReplay(deadLetterId, DeadLetterReplayOutcome.NotFound, null));
        }

        return RunAsync("Replaying the dead letter", async queries =>
        {
            var reply = await queries[partition].ReplayAsync(entry).ConfigureAwait(false);
            return new DeadLetterReplay(deadLetterId, reply.Outcome, reply.NewIdInLbs is null ? null : _layout.IdOf(partition, reply.NewIdInLbs));
        }, cancellationToken);
    }

    /// <summary>Deletes the given dead letters for good.</summary>
    /// <param name="deadLetterIds">The dead letters' <see cref="DeadLetter.Id"/>s.</param>
    /// <param name="cancellationToken">Cancels before Redis is asked.</param>
    /// <returns>How many were deleted (ids that do not exist are not counted).</returns>
    /// <exception cref="RecoverableStreamsException">Redis failed; the cause is the inner exception.</exception>
    public Task<long> PurgeDeadLettersAsync(IEnumerable<string> deadLetterIds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(deadLetterIds);
        var byPartition = new Dictionary<int, List<string>>();
        foreach (var id in deadLetterIds)
        {
            if (_layout.TryParseId(id, out var partition, out var entry) && IsEntryId(entry))
            {
                (byPartition.TryGetValue(partition, out var list) ? list : byPartition[partition] = []).Add(entry);
            }
        }

        return byPartition.Count == 0
            ? Task.FromResult(0L)
            : RunAsync("Purging dead letters", async queries =>
                (await Task.WhenAll(byPartition.Select(p => queries[p.Key].DeleteDeadLettersAsync(p.Value))).ConfigureAwait(false)).Sum(), cancellationToken);
    }

    /// <summary>Deletes every dead letter of the service for good.</summary>
    /// <param name="cancellationToken">Cancels before Redis is asked.</param>
    /// <returns>How many were deleted.</returns>
    /// <exception cref="RecoverableStreamsException">Redis failed; the cause is the inner exception.</exception>
    public Task<long> PurgeAllDeadLettersAsync(CancellationToken cancellationToken = default) =>
        RunAsync("Purging the dead letters", async queries =>
            (await Task.WhenAll(queries.Select(q => q.DeleteAllDeadLettersAsync())).ConfigureAwait(false)).Sum(), cancellationToken);

    /// <summary>
    /// Takes a stream away from its owner: the ownership record is removed and the stream marked free, so that peers
    /// take it over at once, and the old owner's writes (checkpoint, completion, release, dead letter, attempts) are
    /// refused from then on: its next write throws <see cref="StreamOwnershipLostException"/> and
    /// <see cref="StreamLease.OwnershipLost"/> fires. For a stuck handler, or to move a stream by hand.
    /// </summary>
    /// <param name="stream">
    /// The data stream name (its live announcement is released), or its <see cref="LbsInfo.IdInLbs"/>.
    /// </param>
    /// <param name="cancellationToken">Cancels before Redis is asked.</param>
    /// <returns>What happened, with the ownerships removed.</returns>
    /// <exception cref="RecoverableStreamsException">Redis failed; the cause is the inner exception.</exception>
    public Task<ForceRelease> ForceReleaseAsync(string stream, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(stream);
        return RunAsync("Releasing the stream", async queries =>
        {
            // Bounded: the name's live announcement (one HGET in its partition) and the id itself, never a scan.
            var candidates = new List<(int Partition, string Entry)>();
            var named = _layout.PartitionOf(stream);
            if (await queries[named].ReadAnnouncementAsync(stream).ConfigureAwait(false) is { } announced)
            {
                candidates.Add((named, announced));
            }

            if (_layout.TryParseId(stream, out var partition, out var entry) && IsEntryId(entry) && !candidates.Contains((partition, entry)))
            {
                candidates.Add((partition, entry));
            }

            var deadlines = await ReadDeadlinesAsync(queries).ConfigureAwait(false);
            var removed = new List<StreamOwner>();
            foreach (var group in candidates.GroupBy(c => c.Partition))
            {
                var p = group.Key;
                var owners = await queries[p].ReadOwnersOfAsync(group.Select(c => c.Entry).ToArray(), deadlines, id => _layout.IdOf(p, id)).ConfigureAwait(false);
                if (owners.Count == 0)
                {
                    continue;
                }

                // The script removes only what still has a lease: an owner that finished in between is not reported.
                var entries = owners.Select(o => EntryOf(o.IdInLbs)).ToArray();
                var released = (await queries[p].ForceReleaseAsync(entries).ConfigureAwait(false)).ToHashSet(StringComparer.Ordinal);
                removed.AddRange(owners.Where(o => released.Contains(EntryOf(o.IdInLbs))));
            }

            return new ForceRelease(stream, removed.Count > 0 ? ForceReleaseOutcome.Released : ForceReleaseOutcome.NotOwned, removed);
        }, cancellationToken);
    }

    /// <summary>A stream entry id (<c>ms-seq</c>): anything else is a data stream name, never sent to XRANGE as an id.</summary>
    private static bool IsEntryId(string value)
    {
        var dash = value.IndexOf('-', StringComparison.Ordinal);
        return dash > 0 && dash < value.Length - 1
            && ulong.TryParse(value.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out _)
            && ulong.TryParse(value.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out _);
    }

    private string EntryOf(string idInLbs) => _layout.TryParseId(idInLbs, out _, out var entry) ? entry : idInLbs;

    private static async Task<IReadOnlyDictionary<string, long>> ReadDeadlinesAsync(IReadOnlyList<ControlPlaneQueries> queries)
    {
        var deadlines = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var partition in await Task.WhenAll(queries.Select(q => q.ReadDeadlinesAsync())).ConfigureAwait(false))
        {
            foreach (var (session, deadline) in partition)
            {
                deadlines[session] = Math.Max(deadline, deadlines.GetValueOrDefault(session));
            }
        }

        return deadlines;
    }

    private static async Task<bool> AnyDeadLetterAfterAsync(IReadOnlyList<ControlPlaneQueries> queries, int first)
    {
        for (var p = first; p < queries.Count; p++)
        {
            if ((await queries[p].ReadDeadLettersAsync(null, 1).ConfigureAwait(false)).Items.Count > 0)
            {
                return true;
            }
        }

        return false;
    }

    private async Task<T> RunAsync<T>(string what, Func<IReadOnlyList<ControlPlaneQueries>, Task<T>> action, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            var redis = await _connect(cancellationToken).ConfigureAwait(false);
            var db = redis.GetDatabase(_options.Database);
            var queries = _layout.Partitions.Select(keys => new ControlPlaneQueries(db, keys, _parser)).ToArray();
            return await action(queries).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
        {
            throw new RecoverableStreamsException(what + " failed: " + ex.Message, ex);
        }
    }

    private static Func<CancellationToken, ValueTask<IConnectionMultiplexer>> Connected(IConnectionMultiplexer redis)
    {
        ArgumentNullException.ThrowIfNull(redis);
        return _ => ValueTask.FromResult(redis);
    }
}
