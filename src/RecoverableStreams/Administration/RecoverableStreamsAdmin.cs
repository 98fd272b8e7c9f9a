using RecoverableStreams.Configuration;
using RecoverableStreams.Keys;
using RecoverableStreams.Parsing;
using StackExchange.Redis;

namespace RecoverableStreams.Administration;

/// <summary>
/// The operator's view of one service, read from and written to Redis directly: consumers and their heartbeats, who
/// owns which stream, the load-balancer stream's lag, the dead letters (listed, replayed, purged), and force-releasing
/// a stream. Needs no running consumer; the <c>rstreams</c> tool and the dashboard are built on it.
/// </summary>
/// <remarks>
/// Reads are snapshots taken in a few round trips, not one atomic step: a stream completed while the owners are read
/// may be missing from the list. Listing owners scans the ownership records and reads each stream's LBS entry (pipelined,
/// in pages), so keep it to operator use, not a hot path. Writes (replay, force-release) are Lua scripts, atomic beside the consumers' own.
/// </remarks>
public sealed class RecoverableStreamsAdmin
{
    private readonly ControlPlaneQueries _queries;
    private readonly string _serviceName;
    private readonly TimeSpan _leaseDuration;

    /// <summary>Creates the operator API for the service named in <paramref name="options"/>.</summary>
    /// <param name="redis">The connection.</param>
    /// <param name="options">
    /// The same options the consumers use (service name, key overrides, database; the lease duration dates the last
    /// heartbeat).
    /// </param>
    /// <exception cref="ArgumentException">
    /// The options are invalid (the message names each problem), or <see cref="RecoverableStreamOptions.Partitions"/> is
    /// more than 1 (not supported yet).
    /// </exception>
    public RecoverableStreamsAdmin(IConnectionMultiplexer redis, RecoverableStreamOptions options)
    {
        ArgumentNullException.ThrowIfNull(redis);
        RecoverableStreamOptionsValidator.ThrowIfInvalid(options);
        if (options.Partitions != 1)
        {
            // Refused rather than half answered: with P > 1 every partition has its own LBS and control keys.
            throw new ArgumentException($"The operator API reads one partition; this service has Partitions = {options.Partitions}, which it does not support yet.", nameof(options));
        }

        _serviceName = options.ServiceName!;
        _leaseDuration = options.LeaseDuration;
        _queries = new ControlPlaneQueries(redis.GetDatabase(options.Database), StreamKeys.For(options), new LbsEntryParser(options));
    }

    /// <summary>Reads the service's status: LBS length, lag and pending, dead letters, and each consumer's heartbeat.</summary>
    /// <param name="cancellationToken">Cancels before Redis is asked.</param>
    /// <returns>The status at Redis's current time.</returns>
    /// <exception cref="RecoverableStreamsException">Redis failed; the cause is the inner exception.</exception>
    public Task<ServiceStatus> GetStatusAsync(CancellationToken cancellationToken = default) =>
        RunAsync("Reading the status", async () =>
        {
            var now = await _queries.ServerTimeMsAsync().ConfigureAwait(false);
            var counts = _queries.ReadCountsAsync();
            var sessions = _queries.ReadSessionsAsync();
            await Task.WhenAll(counts, sessions).ConfigureAwait(false);

            var lease = (long)_leaseDuration.TotalMilliseconds;
            var consumers = sessions.Result
                .Select(s => new ConsumerStatus(
                    s.ConsumerId,
                    s.SessionId,
                    DateTimeOffset.FromUnixTimeMilliseconds(Math.Max(0, s.DeadlineMs - lease)),
                    TimeSpan.FromMilliseconds(Math.Max(0, now - Math.Max(0, s.DeadlineMs - lease))),
                    DateTimeOffset.FromUnixTimeMilliseconds(s.DeadlineMs),
                    s.DeadlineMs > now,
                    s.OwnedStreams))
                .ToArray();
            var keys = _queries.Keys;
            var c = counts.Result;
            return new ServiceStatus(_serviceName, keys.Lbs, keys.Group, DateTimeOffset.FromUnixTimeMilliseconds(now),
                c.Length, c.Lag, c.Pending, c.Owned, c.DeadLetters, consumers);
        }, cancellationToken);

    /// <summary>Lists every ownership record, ordered by data stream name.</summary>
    /// <param name="cancellationToken">Cancels before Redis is asked.</param>
    /// <returns>Each owned stream with its owner, fencing token and deadline.</returns>
    /// <exception cref="RecoverableStreamsException">Redis failed; the cause is the inner exception.</exception>
    public Task<IReadOnlyList<StreamOwner>> GetOwnersAsync(CancellationToken cancellationToken = default) =>
        RunAsync("Reading the owners", async () =>
        {
            var owners = await _queries.ReadOwnersAsync().ConfigureAwait(false);
            return (IReadOnlyList<StreamOwner>)owners
                .OrderBy(o => o.DataStreamName, StringComparer.Ordinal)
                .ThenBy(o => o.IdInLbs, StringComparer.Ordinal)
                .ToArray();
        }, cancellationToken);

    /// <summary>Lists dead letters, oldest first, one page at a time.</summary>
    /// <param name="after">The <see cref="DeadLetterPage.Next"/> cursor of the previous page; <see langword="null"/> for the first page.</param>
    /// <param name="count">The page size, at least 1.</param>
    /// <param name="cancellationToken">Cancels before Redis is asked.</param>
    /// <returns>The page.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is less than 1.</exception>
    /// <exception cref="RecoverableStreamsException">Redis failed; the cause is the inner exception.</exception>
    public Task<DeadLetterPage> GetDeadLettersAsync(string? after = null, int count = 100, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        return RunAsync("Reading the dead letters", () => _queries.ReadDeadLettersAsync(after, count), cancellationToken);
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
        return RunAsync("Replaying the dead letter", async () =>
        {
            var reply = await _queries.ReplayAsync(deadLetterId).ConfigureAwait(false);
            return new DeadLetterReplay(deadLetterId, reply.Outcome, reply.NewIdInLbs);
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
        var ids = deadLetterIds.ToArray();
        return ids.Length == 0
            ? Task.FromResult(0L)
            : RunAsync("Purging dead letters", () => _queries.DeleteDeadLettersAsync(ids), cancellationToken);
    }

    /// <summary>Deletes every dead letter of the service for good.</summary>
    /// <param name="cancellationToken">Cancels before Redis is asked.</param>
    /// <returns>How many were deleted.</returns>
    /// <exception cref="RecoverableStreamsException">Redis failed; the cause is the inner exception.</exception>
    public Task<long> PurgeAllDeadLettersAsync(CancellationToken cancellationToken = default) =>
        RunAsync("Purging the dead letters", _queries.DeleteAllDeadLettersAsync, cancellationToken);

    /// <summary>
    /// Takes a stream away from its owner: the ownership record is removed and the stream marked free, so that peers
    /// take it over at once, and the old owner's writes (checkpoint, completion, release, dead letter, attempts) are
    /// refused from then on: its next write throws <see cref="StreamOwnershipLostException"/> and
    /// <see cref="StreamLease.OwnershipLost"/> fires. For a stuck handler, or to move a stream by hand.
    /// </summary>
    /// <param name="stream">The data stream name, or its <see cref="LbsInfo.IdInLbs"/>.</param>
    /// <param name="cancellationToken">Cancels before Redis is asked.</param>
    /// <returns>What happened, with the ownerships removed.</returns>
    /// <exception cref="RecoverableStreamsException">Redis failed; the cause is the inner exception.</exception>
    public Task<ForceRelease> ForceReleaseAsync(string stream, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(stream);
        return RunAsync("Releasing the stream", async () =>
        {
            var matches = (await _queries.ReadOwnersAsync().ConfigureAwait(false))
                .Where(o => string.Equals(o.DataStreamName, stream, StringComparison.Ordinal) || string.Equals(o.IdInLbs, stream, StringComparison.Ordinal))
                .ToArray();
            if (matches.Length == 0)
            {
                return new ForceRelease(stream, ForceReleaseOutcome.NotOwned, []);
            }

            // The script removes only what still has a lease: an owner that finished in between is not reported.
            var released = (await _queries.ForceReleaseAsync(matches.Select(m => m.IdInLbs).ToArray()).ConfigureAwait(false)).ToHashSet(StringComparer.Ordinal);
            var removed = matches.Where(m => released.Contains(m.IdInLbs)).ToArray();
            return new ForceRelease(stream, removed.Length > 0 ? ForceReleaseOutcome.Released : ForceReleaseOutcome.NotOwned, removed);
        }, cancellationToken);
    }

    private static async Task<T> RunAsync<T>(string what, Func<Task<T>> action, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
        {
            throw new RecoverableStreamsException(what + " failed: " + ex.Message, ex);
        }
    }
}
