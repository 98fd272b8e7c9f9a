using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using RecoverableStreams.Leasing;
using RecoverableStreams.Notifications;
using RecoverableStreams.Partitioning;
using StackExchange.Redis;

namespace RecoverableStreams;

/// <summary>
/// What an owner holds while it works on a stream. The client keeps it alive in the background by renewing its
/// session (one small script call for all of a consumer's leases); <see cref="OwnershipLost"/> fires when this consumer stops owning the stream for any
/// reason, once, and <see cref="EndReason"/> says which.
/// </summary>
[SuppressMessage("Design", "CA1001", Justification = "A CancellationTokenSource without a timer holds nothing to dispose, and OwnershipLost must stay readable after the lease ends.")]
public sealed class StreamLease : IReaderLease
{
    private const int NotEnded = -1;
    private readonly ILeaseOperations _operations;
    // Created when OwnershipLost is first read: a lease whose token nobody watches (a handler reading entries, which the
    // lease's end wakes directly) holds no token source; hundreds of thousands of leases are held at once.
    private CancellationTokenSource? _ownership;
    private long _lastProgress;
    private int _endReason = NotEnded;

    internal StreamLease(
        ILeaseOperations operations,
        LbsInfo info,
        string consumerId,
        LeaseSession session,
        long fencingToken,
        LeaseOrigin origin,
        IReadOnlyDictionary<string, JsonElement>? additionalInfo,
        Partition partition)
    {
        _operations = operations;
        Partition = partition;
        Info = info;
        ConsumerId = consumerId;
        Session = session;
        FencingToken = fencingToken;
        Origin = origin;
        AdditionalInfo = additionalInfo;
        _lastProgress = operations.Time.GetTimestamp();
    }

    /// <summary>The stream and its LBS entry.</summary>
    public LbsInfo Info { get; }

    /// <summary>The Redis key of the data stream.</summary>
    public string DataStreamName => Info.DataStreamName;

    /// <summary>The id of the LBS entry this lease belongs to.</summary>
    public string IdInLbs => Info.IdInLbs;

    /// <summary>The consumer that holds the lease.</summary>
    public string ConsumerId { get; }

    /// <summary>
    /// A number that increases with every acquisition of every stream of the service, also across a Redis restart
    /// without persistence or a failover that lost the last grants (it is never below the Redis clock in microseconds
    /// at the grant). Pass it to downstream writes so they can reject a stale owner.
    /// </summary>
    public long FencingToken { get; }

    /// <summary>How this consumer came to own the stream.</summary>
    public LeaseOrigin Origin { get; }

    /// <summary>The producer's <c>Info</c>, when the LBS entry carried one.</summary>
    public IReadOnlyDictionary<string, JsonElement>? AdditionalInfo { get; }

    /// <summary>Fires when this consumer stops owning the stream.</summary>
    public CancellationToken OwnershipLost
    {
        get
        {
            var ownership = Volatile.Read(ref _ownership);
            if (ownership is null)
            {
                var created = new CancellationTokenSource();
                ownership = Interlocked.CompareExchange(ref _ownership, created, null) ?? created;
                // End sets its reason before it looks for a token source, this publishes the source before it looks at
                // the reason (both full fences): one of the two cancels it.
                if (HasEnded)
                {
                    CancelQuietly(ownership);
                }
            }

            return ownership.Token;
        }
    }

    /// <summary>
    /// <see langword="true"/> until <see cref="OwnershipLost"/> fires or the session's local deadline passes, whichever
    /// comes first. The deadline is read on the monotonic clock at each call: a process that resumes after a pause
    /// longer than its lease reads <see langword="false"/> at once, before the deadline timer has ended the session.
    /// </summary>
    public bool IsOwned => !HasEnded && !Session.IsPastLocalDeadline(_operations.Time);

    /// <summary>Why the lease ended; <see langword="null"/> while it is owned. Set once, before <see cref="OwnershipLost"/> fires.</summary>
    public LeaseEndReason? EndReason => Volatile.Read(ref _endReason) is var reason and not NotEnded ? (LeaseEndReason)reason : null;

    /// <summary>True once ownership ended through the one ending path (the deadline alone does not set it).</summary>
    internal bool HasEnded => Volatile.Read(ref _endReason) != NotEnded;

    /// <summary>
    /// The lease's current deadline (Redis server clock): the deadline of the consumer's session, which every lease of
    /// the consumer shares, moved forward by each renewal.
    /// </summary>
    public DateTimeOffset ExpiresAt => DateTimeOffset.FromUnixTimeMilliseconds(Session.ExpiresAtMs);

    /// <summary>The partition whose LBS announced the stream (the only one with one partition).</summary>
    internal Partition Partition { get; }

    /// <summary>
    /// The LBS entry id inside <see cref="Partition"/>: <see cref="IdInLbs"/> itself with one partition, the part after
    /// <c>&lt;partition&gt;:</c> with more (entry ids hold no colon). Computed when a write needs it: a lease idles far
    /// longer than it writes, and hundreds of thousands of them are held at once.
    /// </summary>
    internal string EntryId
    {
        get
        {
            var id = Info.IdInLbs;
            var colon = id.IndexOf(':', StringComparison.Ordinal);
            return colon < 0 ? id : id[(colon + 1)..];
        }
    }

    /// <summary>The session this stream was granted to.</summary>
    internal LeaseSession Session { get; }

    /// <summary>The ownership record's value in <c>{L}:owners</c>: <c>sessionId|token</c>, computed when a write needs it.</summary>
    internal string LeaseValue => Session.RecordValue(FencingToken);

    /// <summary>Whether <paramref name="record"/> is this lease's ownership record value (<see cref="LeaseValue"/>), without building it.</summary>
    internal bool IsRecord(string record) => Session.IsRecordValue(record, FencingToken);

    /// <summary>The local, monotonic deadline (the session's): past it this consumer treats the lease as lost, even without Redis.</summary>
    internal long LocalDeadline => Session.LocalDeadline;

    internal long LastProgress => Interlocked.Read(ref _lastProgress);

    /// <summary>
    /// Records progress for <see cref="RecoverableStreamOptions.HandlerStallTimeout"/>. Reading entries and
    /// checkpointing count as progress too; call this when you make progress without either.
    /// </summary>
    public void Heartbeat() => Interlocked.Exchange(ref _lastProgress, _operations.Time.GetTimestamp());

    /// <summary>Reads the stored checkpoint, whoever wrote it.</summary>
    /// <param name="cancellationToken">Cancels the wait for Redis.</param>
    /// <returns>The checkpoint, or <see langword="null"/> when none was stored.</returns>
    public Task<StreamCheckpoint?> GetCheckpointAsync(CancellationToken cancellationToken = default) =>
        _operations.GetCheckpointAsync(this, cancellationToken);

    /// <summary>
    /// Stores the last processed data-stream entry id and optional state, atomically with an ownership check.
    /// </summary>
    /// <param name="position">The id of the last processed entry of the data stream.</param>
    /// <param name="state">Optional application state, replaced as a whole.</param>
    /// <param name="cancellationToken">Cancels before the write is sent; a sent write is not abandoned.</param>
    /// <exception cref="StreamOwnershipLostException">This consumer no longer holds the lease; nothing was written.</exception>
    public Task CheckpointAsync(string position, ReadOnlyMemory<byte> state = default, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(position);
        Heartbeat();
        return _operations.CheckpointAsync(this, position, state, cancellationToken);
    }

    /// <summary>
    /// Reads the data stream's entries in order, after <paramref name="afterId"/> or, when it is not given, after the
    /// stored checkpoint. Waits for new entries when it reaches the end; ends when <paramref name="cancellationToken"/>
    /// or <see cref="OwnershipLost"/> fires (with an <see cref="OperationCanceledException"/>).
    /// </summary>
    /// <param name="afterId">Start after this entry id; <see langword="null"/> resumes after the checkpoint.</param>
    /// <param name="batchSize">How many entries one round trip reads.</param>
    /// <param name="cancellationToken">Stops the reading.</param>
    /// <returns>The entries, as they come.</returns>
    public IAsyncEnumerable<StreamEntry> ReadEntriesAsync(string? afterId = null, int batchSize = 100, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        return _operations.ReadDataStreamAsync(this, afterId, batchSize, cancellationToken);
    }

    /// <summary>
    /// Counts a failed attempt at this stream in Redis (so the count survives restarts and moves with the stream).
    /// </summary>
    /// <param name="cancellationToken">Cancels before the write is sent.</param>
    /// <returns>The failed attempts so far, this one included.</returns>
    /// <exception cref="StreamOwnershipLostException">This consumer no longer holds the lease.</exception>
    public Task<long> RecordFailedAttemptAsync(CancellationToken cancellationToken = default) =>
        _operations.RecordFailedAttemptAsync(this, cancellationToken);

    /// <summary>
    /// Reads how many failed attempts were counted for this LBS entry so far, by any consumer (see
    /// <see cref="RecordFailedAttemptAsync"/>).
    /// </summary>
    /// <param name="cancellationToken">Cancels before the read is sent.</param>
    /// <returns>The failed attempts so far; 0 when none was counted.</returns>
    public Task<long> GetFailedAttemptsAsync(CancellationToken cancellationToken = default) =>
        _operations.GetFailedAttemptsAsync(this, cancellationToken);

    /// <summary>Moves the LBS entry to the dead-letter stream with a reason and completes it.</summary>
    /// <param name="reason">Why the stream cannot be processed.</param>
    /// <param name="cancellationToken">Cancels before the write is sent.</param>
    /// <returns>A task that completes when the entry is dead-lettered.</returns>
    /// <exception cref="StreamOwnershipLostException">This consumer no longer holds the lease; nothing was written.</exception>
    public Task DeadLetterAsync(string reason, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(reason);
        return _operations.DeadLetterAsync(this, reason, cancellationToken);
    }

    /// <summary>
    /// Completes the stream under this lease: its LBS entry, checkpoint and attempt count are deleted. Bound to this
    /// lease, unlike <see cref="RecoverableStreamClient.CompleteStreamAsync(LbsInfo, CancellationToken)"/>, which acts
    /// on whichever lease holds the entry now: a stale caller cannot complete the stream of the lease that replaced it.
    /// </summary>
    /// <param name="cancellationToken">Cancels before the write is sent; a sent write is not abandoned.</param>
    /// <returns>A task that completes when the stream is completed.</returns>
    /// <exception cref="StreamOwnershipLostException">This lease is no longer the current one; nothing was written.</exception>
    public Task CompleteAsync(CancellationToken cancellationToken = default) => _operations.CompleteAsync(this, cancellationToken);

    /// <summary>
    /// Gives the stream back unfinished under this lease, so that any consumer takes it at once. Bound to this lease,
    /// unlike <see cref="RecoverableStreamClient.ReleaseStreamAsync(LbsInfo, CancellationToken)"/>.
    /// </summary>
    /// <param name="cancellationToken">Cancels before the write is sent; a sent write is not abandoned.</param>
    /// <returns>A task that completes when the stream is released.</returns>
    /// <exception cref="StreamOwnershipLostException">This lease is no longer the current one; nothing was written.</exception>
    public Task ReleaseAsync(CancellationToken cancellationToken = default) => _operations.ReleaseAsync(this, cancellationToken);

    /// <inheritdoc />
    public override string ToString() => $"{DataStreamName} ({IdInLbs}) token {FencingToken}";

    /// <summary>
    /// Ends ownership once, recording why; returns <see langword="false"/> when it had already ended (the first reason
    /// stays). Only <see cref="LeaseOperations.End"/> calls it. <see cref="IsOwned"/> and <see cref="OwnershipLost"/>'s
    /// <c>IsCancellationRequested</c> flip at once, but the callbacks registered on <see cref="OwnershipLost"/> run on
    /// the thread pool: this is called on timers and loops, and application code that blocks there would stall them.
    /// </summary>
    internal bool End(LeaseEndReason reason)
    {
        if (Interlocked.CompareExchange(ref _endReason, (int)reason, NotEnded) != NotEnded)
        {
            return false;
        }

        if (Volatile.Read(ref _ownership) is { } ownership)
        {
            CancelQuietly(ownership);
        }

        return true;
    }

    private static void CancelQuietly(CancellationTokenSource ownership) =>
        // A callback that throws faults the task; ownership has ended all the same, so the fault is only observed.
        _ = ownership.CancelAsync().ContinueWith(
            static t => _ = t.Exception,
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
}
