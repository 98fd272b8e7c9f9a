using RecoverableStreams.Diagnostics;
using RecoverableStreams.Notifications;
using RecoverableStreams.Recovery;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.Leasing;

/// <summary>
/// The one owner of this consumer's session in Redis (docs/ARCHITECTURE.md, "The consumer session"): it opens it,
/// renews it (one <c>renew.lua</c> call per partition and <see cref="ClientContext.RenewInterval"/>, whatever the
/// consumer owns), keeps its local deadline, ends it and opens the next one. A timer at the local deadline ends the
/// session, and every lease of it (<see cref="LeaseEndReason.SessionEnded"/>), whether or not a renewal call is in
/// flight; a renewal waits for its reply no longer than the time left. The renewal also repairs grants whose reply was
/// lost and releases the streams of stalled handlers, both off the renewal loop.
/// </summary>
internal sealed class ConsumerSession : IDisposable
{
    /// <summary>After a failed renewal, try again this soon (never later than the renew interval).</summary>
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(250);

    private readonly ClientContext _context;
    private readonly LeaseOperations _leases;
    private readonly ClaimCallBudget _claimCalls;
    private readonly ITimer _deadlineTimer;
    private readonly WakeUpSignal _wake = new();
    private readonly long _localLease;
    private LeaseSession? _current;
    private int _repairing;

    public ConsumerSession(ClientContext context, LeaseOperations leases, ClaimCallBudget claimCalls)
    {
        _context = context;
        _leases = leases;
        _claimCalls = claimCalls;
        SafetyMargin = SafetyMarginFor(context.LeaseDuration, context.RenewInterval);
        _localLease = (long)((context.LeaseDuration - SafetyMargin).TotalSeconds * context.Time.TimestampFrequency);
        _deadlineTimer = context.Time.CreateTimer(static state => ((ConsumerSession)state!).OnLocalDeadline(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>
    /// How much earlier than Redis' deadline the local deadline falls: one renew interval (a replica promoted after it
    /// missed the last renewal holds the deadline of the one before) plus a tenth of the lease (a forward step of the
    /// Redis host's clock, or a slow send, by up to that much). docs/ARCHITECTURE.md, "The consumer session".
    /// </summary>
    public TimeSpan SafetyMargin { get; }

    /// <summary>The current session, or <see langword="null"/> before the first one opened.</summary>
    public LeaseSession? Current => Volatile.Read(ref _current);

    /// <summary>The safety margin for a lease and renew interval (see <see cref="SafetyMargin"/>).</summary>
    public static TimeSpan SafetyMarginFor(TimeSpan lease, TimeSpan renewInterval) => renewInterval + (lease / 10);

    /// <summary>The current session when it has not ended and its local deadline has not passed.</summary>
    public bool TryGetLive(out LeaseSession session)
    {
        session = Current!;
        return session is not null && !session.IsEnded && !session.IsPastLocalDeadline(_context.Time);
    }

    /// <summary>Renews until the client stops; opens a new session whenever the current one ended.</summary>
    public async Task RunAsync()
    {
        var stopping = _context.Stopping;
        while (!stopping.IsCancellationRequested)
        {
            TimeSpan delay;
            try
            {
                delay = await StepAsync().ConfigureAwait(false);
            }
            // A background loop never dies: Redis failures and anything unexpected are logged and retried.
            #pragma warning disable CA1031
            catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
            #pragma warning restore CA1031
            {
                Log.RenewalFailed(_context.Logger, _context.Registry.Count, ex);
                delay = Min(RetryDelay, _context.RenewInterval);
                var untilDeadline = UntilLocalDeadline();
                if (untilDeadline > TimeSpan.Zero)
                {
                    delay = Min(delay, untilDeadline);
                }
            }

            try
            {
                await _wake.WaitAsync(delay, _context.Time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Opens a session when there is none (or it ended), else renews it. Returns how long to wait before the next step.
    /// </summary>
    public async Task<TimeSpan> StepAsync()
    {
        var session = Current;
        if (session is null || session.IsEnded)
        {
            if (session is not null)
            {
                await CloseInRedisAsync(session).ConfigureAwait(false);
            }

            await OpenAsync().ConfigureAwait(false);
            return _context.RenewInterval;
        }

        var left = UntilLocalDeadline();
        if (left <= TimeSpan.Zero)
        {
            End(session, "the session's local deadline passed without a successful renewal");
            return TimeSpan.Zero;
        }

        var sentAt = _context.Time.GetTimestamp();
        SessionReply[] replies;
        try
        {
            // Bounded by the time left, not by the command timeout (5 s by default, longer than a short lease): past
            // the local deadline the session is over here whatever the reply says.
            replies = await Task.WhenAll(_context.Partitions.Select(p => p.Scripts.RenewAsync(session.Id, _context.LeaseDuration))).WaitAsync(left, _context.Time).ConfigureAwait(false);
        }
        catch (TimeoutException ex) when (ex is not RedisTimeoutException)
        {
            // The wait for the reply ran out (not the command timeout, which is an outage retried until the deadline).
            _claimCalls.RenewalTook(_context.Time.GetElapsedTime(sentAt));
            End(session, "no renewal reply before the session's local deadline");
            return TimeSpan.Zero;
        }

        var roundTrip = _context.Time.GetElapsedTime(sentAt);
        _context.Metrics.Renewed(_context.Partitions[0].Keys, roundTrip);
        // A slow reply means claims (this consumer's or its peers') queue ahead of renewals: claim in smaller calls.
        _claimCalls.RenewalTook(roundTrip);
        var reply = Combine(replies);
        if (!reply.Accepted)
        {
            End(session, "the session expired in Redis before it was renewed");
            return TimeSpan.Zero;
        }

        session.Renewed(sentAt + _localLease, reply.DeadlineMs);
        ArmDeadlineTimer(session);
        RepairIfCountsDiffer(session, replies);
        ReleaseStalled();
        // The next renewal is due RenewInterval after this one was sent, not after its reply came: a slow reply must not
        // push every later renewal closer to the local deadline.
        var due = _context.RenewInterval - _context.Time.GetElapsedTime(sentAt);
        return Min(due > TimeSpan.Zero ? due : TimeSpan.Zero, UntilLocalDeadline());
    }

    /// <summary>
    /// Ends a session once (its local deadline passed, or Redis refused it): every lease granted to it ends
    /// (<see cref="LeaseEndReason.SessionEnded"/>; nothing to do in Redis, where its deadline frees them), and the
    /// renewal loop opens a new session.
    /// </summary>
    public void End(LeaseSession session, string why)
    {
        if (!session.End())
        {
            return;
        }

        // A lease registered after this snapshot sees the session ended (LeaseOperations.AcceptAsync) and ends itself.
        var leases = _context.Registry.Snapshot().Where(l => ReferenceEquals(l.Session, session)).ToArray();
        Log.SessionEnded(_context.Logger, session.Id, why, leases.Length);
        foreach (var lease in leases)
        {
            _leases.End(lease, LeaseEndReason.SessionEnded, why);
        }

        _wake.Set();
    }

    /// <summary>
    /// Leaves at shutdown, after every lease ended here: the current session ends and is closed in Redis at once, in
    /// every partition, in calls sent together. Where it still owns streams it is dead from then on: its writes are
    /// refused, and peers take its streams now, as a dead session's, in one pass per stream (a release first would be
    /// a second pass over every stream: measured, a third of a 10,000-stream hand-over's Redis time). Each partition's
    /// wake-up names <paramref name="left"/>'s streams there, so consumers without AutoClaim announce them as released.
    /// </summary>
    public async Task LeaveAsync(IReadOnlyCollection<StreamLease> left)
    {
        _deadlineTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        if (Current is { } session)
        {
            session.End();
            await Task.WhenAll(_context.Partitions.Select(p => p.Scripts.CloseSessionAsync(
                session.Id,
                left.Where(l => l.Partition == p && l.Session == session).Select(l => l.EntryId).ToArray()))).ConfigureAwait(false);
        }
    }

    public void Dispose() => _deadlineTimer.Dispose();

    private async Task OpenAsync()
    {
        var id = _context.NewSessionId();
        var sentAt = _context.Time.GetTimestamp();
        var reply = Combine(await Task.WhenAll(_context.Partitions.Select(p => p.Scripts.OpenSessionAsync(id, _context.LeaseDuration))).ConfigureAwait(false));
        if (!reply.Accepted)
        {
            // A random id that exists already: never revive it; the next step draws another.
            throw new InvalidOperationException($"Session id {id} exists already.");
        }

        var session = new LeaseSession(id, sentAt + _localLease, reply.DeadlineMs);
        Volatile.Write(ref _current, session);
        ArmDeadlineTimer(session);
        Log.SessionOpened(_context.Logger, id, reply.DeadlineMs);
        _context.CapacityFreed();
    }

    private void ArmDeadlineTimer(LeaseSession session)
    {
        var ticks = session.LocalDeadline - _context.Time.GetTimestamp();
        var due = ticks <= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds((double)ticks / _context.Time.TimestampFrequency);
        _deadlineTimer.Change(due, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The timer: ends the session when its local deadline passed, else (renewed meanwhile) waits again.</summary>
    private void OnLocalDeadline()
    {
        var session = Current;
        if (session is null || session.IsEnded || _context.Stopping.IsCancellationRequested)
        {
            return;
        }

        if (session.IsPastLocalDeadline(_context.Time))
        {
            End(session, "the session's local deadline passed without a successful renewal");
        }
        else
        {
            ArmDeadlineTimer(session);
        }
    }

    /// <summary>
    /// Marks a session this process gave up as dead in Redis at once, so peers need not wait for its deadline (Redis
    /// may still think it live, e.g. when the local deadline passed during a slow renewal). Best effort.
    /// </summary>
    private async Task CloseInRedisAsync(LeaseSession session)
    {
        try
        {
            await Task.WhenAll(_context.Partitions.Select(p => p.Scripts.CloseSessionAsync(session.Id))).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
        {
            // Its deadline frees its streams anyway.
            Log.RenewalFailed(_context.Logger, 0, ex);
        }
    }

    /// <summary>
    /// Every grant accounted for: when Redis records more streams for the session in a partition than this process
    /// holds there (a grant whose reply was lost), the session's index is paged off the renewal loop and what is
    /// unknown here is released (see <see cref="GrantRepair"/>).
    /// </summary>
    private void RepairIfCountsDiffer(LeaseSession session, SessionReply[] replies)
    {
        var held = _context.Registry.HeldBy(session);
        // Only more in Redis than here can be repaired; fewer means a lease here was taken, which its next write learns.
        var differing = _context.Partitions.Where((p, i) => replies[i].OwnedCount > held[p.Index]).ToArray();
        if (differing.Length == 0 || Interlocked.Exchange(ref _repairing, 1) != 0)
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                await new GrantRepair(_context).RunAsync(session, differing).ConfigureAwait(false);
            }
            #pragma warning disable CA1031 // A repair that failed runs again after the next renewal.
            catch (Exception ex)
            #pragma warning restore CA1031
            {
                Log.RenewalFailed(_context.Logger, _context.Registry.Count, ex);
            }
            finally
            {
                Volatile.Write(ref _repairing, 0);
            }
        });
    }

    /// <summary>
    /// A hung handler (no progress for HandlerStallTimeout) gives its stream back: the leases end here at once
    /// (<see cref="LeaseEndReason.Stalled"/>), and their records are released in batches off the renewal loop.
    /// </summary>
    private void ReleaseStalled()
    {
        if (_context.Options.HandlerStallTimeout is not { } limit)
        {
            return;
        }

        var now = _context.Time.GetTimestamp();
        var stalled = _context.Registry.Snapshot().Where(l => _context.Time.GetElapsedTime(l.LastProgress, now) > limit).ToArray();
        if (stalled.Length == 0)
        {
            return;
        }

        foreach (var lease in stalled)
        {
            Log.LeaseStalled(_context.Logger, lease.DataStreamName, lease.IdInLbs, limit);
        }

        // Failed releases stay recorded for the session in Redis: the renewal's count finds them and they are released then.
        _ = _leases.EndAndReleaseAsync(stalled, LeaseEndReason.Stalled, $"its handler made no progress for longer than HandlerStallTimeout ({limit})");
    }

    /// <summary>
    /// One session spans every partition (one member in each partition's sessions set, sent in one pipelined batch):
    /// it is accepted only where every partition accepted it, and its deadline is the earliest of theirs.
    /// </summary>
    private static SessionReply Combine(SessionReply[] replies) =>
        replies.Length == 1 ? replies[0] : replies.Any(r => !r.Accepted) ? replies.First(r => !r.Accepted) : replies.MinBy(r => r.DeadlineMs)!;

    private TimeSpan UntilLocalDeadline()
    {
        var session = Current;
        if (session is null || session.IsEnded)
        {
            return TimeSpan.Zero;
        }

        var ticks = session.LocalDeadline - _context.Time.GetTimestamp();
        return ticks <= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds((double)ticks / _context.Time.TimestampFrequency);
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
