using RecoverableStreams.Diagnostics;
using RecoverableStreams.Leasing;

namespace RecoverableStreams.Rebalancing;

/// <summary>
/// Live rebalancing (<see cref="RecoverableStreamOptions.Rebalance"/>, with AutoClaim): once per renew interval, checks
/// whether the load can have changed (<see cref="ServiceLoad.ReadFingerprintAsync"/>: the number of sessions and of
/// streams that need an owner, a few commands); only then, or while a previous round still has work, it reads the
/// service's load and, when this consumer owns more than its fair share, hands its newest streams over, at most a
/// bounded number per round (a tenth of <see cref="RecoverableStreamOptions.MaxConcurrentStreams"/>, between 10 and
/// 10,000: the release pages them by 1,000 in one flight with one wake-up; capped at 1,000, a consumer joining 100,000
/// streams on three waited nine rounds, over two lease durations, for its share). Each stream ends here first and is
/// then released (ownership-checked), so the under-share consumer that claims it never overlaps with this one; this
/// consumer's own claims stop at its fair share, so it never takes back what it just handed over.
/// </summary>
internal sealed class Rebalancer(ClientContext context, LeaseOperations leases, ServiceLoad load)
{
    public const string HandOverReason = "handed over to a less loaded consumer (rebalancing)";

    /// <summary>Streams ended here whose release has not reached Redis yet; released again each round.</summary>
    private readonly List<StreamLease> _unreleased = [];

    /// <summary>The fingerprint of the load at the last full round; null forces the next round to read the load.</summary>
    private string? _lastFingerprint;

    private long _rounds;

    /// <summary>Rounds that read the load (<c>loads.lua</c>), for tests and benchmarks.</summary>
    public long LoadReads => Interlocked.Read(ref _rounds);

    public int MaxPerRound => Math.Clamp(context.Registry.Capacity / 10, 10, 10_000);

    public async Task RunAsync()
    {
        var stopping = context.Stopping;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await RebalanceOnceAsync().ConfigureAwait(false);
            }
            // A background loop never dies: Redis failures and anything unexpected are logged and retried.
            #pragma warning disable CA1031
            catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
            #pragma warning restore CA1031
            {
                Log.RebalanceFailed(context.Logger, ex);
            }

            try
            {
                await Task.Delay(context.RenewInterval, context.Time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One round; returns how many streams were handed over.</summary>
    public async Task<int> RebalanceOnceAsync()
    {
        await RetryUnreleasedAsync().ConfigureAwait(false);
        if (!context.Session.TryGetLive(out var session) || context.Registry.AcquisitionStopped)
        {
            return 0;
        }

        // Nothing joined, left or moved since the last round that found nothing to do: the targets are the same.
        var fingerprint = await load.ReadFingerprintAsync().ConfigureAwait(false);
        if (string.Equals(fingerprint, _lastFingerprint, StringComparison.Ordinal))
        {
            return 0;
        }

        _lastFingerprint = null;
        Interlocked.Increment(ref _rounds);
        var snapshot = await load.ReadAsync(session).ConfigureAwait(false);
        var count = FairShare.HandOverCount(snapshot.Live, snapshot.Total, session.Id, MaxPerRound);
        if (count == 0)
        {
            // Balanced as far as this consumer can tell: read the load again only when the fingerprint moves.
            _lastFingerprint = fingerprint;
            return 0;
        }

        // The newest grants (highest fencing tokens) go: the longest-running handlers keep their streams.
        var chosen = context.Registry.Snapshot()
            .Where(l => ReferenceEquals(l.Session, session) && l.IsOwned)
            .OrderByDescending(l => l.FencingToken)
            .Take(count)
            .ToArray();
        var owned = context.Registry.Count;
        Log.StreamsHandedOver(context.Logger, chosen.Length, owned, owned - count);
        var failed = await leases.EndAndReleaseAsync(chosen, LeaseEndReason.HandedOver, HandOverReason).ConfigureAwait(false);
        _unreleased.AddRange(failed);
        return chosen.Length;
    }

    private async Task RetryUnreleasedAsync()
    {
        // Only while their session lives: a dead session's records no longer protect anything, peers take them over.
        _unreleased.RemoveAll(l => l.Session.IsEnded);
        if (_unreleased.Count == 0)
        {
            return;
        }

        var failed = await leases.ReleaseEndedAsync(_unreleased.ToArray()).ConfigureAwait(false);
        _unreleased.Clear();
        _unreleased.AddRange(failed);
    }
}
