using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Logging;
using RecoverableStreams.Diagnostics;
using RecoverableStreams.Notifications;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.Checkpoints;

/// <summary>
/// Watches every data stream a reader of this client sleeps on, at a cost that does not grow with idle streams: one
/// subscription to the <c>xadd</c> keyevent channel, routed by key in the client (<see cref="XAddRouter"/>), and one
/// background loop that tells sleeping readers' leases they are alive (no Redis call) and proves that <c>xadd</c> events
/// arrive (<see cref="DeliveryCanary"/>: one canary write per primary every
/// <see cref="RecoverableStreamOptions.DeliveryCheckInterval"/>). While delivery is proven, no waiting stream is polled.
/// The batched safety poll (<c>streams_after.lua</c>, up to 500 streams per call, at most
/// <see cref="RecoverableStreamOptions.SafetyPollBudget"/> streams per second) runs only on evidence that events may have
/// been lost: every <see cref="RecoverableStreamOptions.PollInterval"/> while delivery is not proven (a canary missed its
/// round, a canary write failed, the subscription failed), and once after delivery is proven again (a resubscription
/// after a reconnect, or a canary back after a miss), started after the proof so it covers every event lost before it.
/// Nothing is subscribed or started before the first reader.
/// </summary>
[SuppressMessage("Design", "CA1001", Justification = "A CancellationTokenSource without a timer holds nothing to dispose; StopAsync ends the watcher.")]
internal sealed class DataStreamWatcher : IXAddListener
{
    private const int BatchesInFlight = 4;
    private readonly IConnectionMultiplexer _redis;
    private readonly IDatabaseAsync _database;
    private readonly XAddSubscription _subscription;
    private readonly DeliveryCanary _canary;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TimeSpan _pollInterval;
    private readonly TimeSpan _checkInterval;
    private readonly int _budget;
    private readonly TimeSpan _heartbeatInterval;
    private readonly bool _stallWatched;
    private readonly XAddRouter _router = new();
    private readonly WakeUpSignal _loopWake = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lifecycle = new();
    private Task? _started;
    private Task _loop = Task.CompletedTask;
    private volatile bool _subscribed;
    private volatile DeliveryState _delivery = DeliveryState.Checking;
    private int _passRequested;
    private int _checkRequested;
    private long _passes;
    private long _probed;
    private long _proofs;
    private long _misses;
    private long _eventWakeUps;
    private long _safetyWakeUps;

    public DataStreamWatcher(IConnectionMultiplexer redis, IDatabase database, RecoverableStreamOptions options, IReadOnlyList<string> canaryPrefixes, ILogger logger, TimeProvider time)
    {
        _redis = redis;
        _database = database;
        _subscription = XAddSubscription.For(redis, database.Database);
        _canary = new DeliveryCanary(redis, database, _router, canaryPrefixes, time, _loopWake.Set);
        _logger = logger;
        _time = time;
        _pollInterval = options.PollInterval;
        _checkInterval = options.DeliveryCheckInterval;
        _budget = options.SafetyPollBudget;
        // Often enough that a sleeping reader never looks stalled (HandlerStallTimeout), and never more than PollInterval.
        _heartbeatInterval = options.HandlerStallTimeout is { } stall && stall / 4 < options.PollInterval ? stall / 4 : options.PollInterval;
        _stallWatched = options.HandlerStallTimeout is not null;
    }

    /// <summary>Whether <c>xadd</c> events are known to arrive (so no waiting stream is polled).</summary>
    public enum DeliveryState
    {
        /// <summary>A canary is on its way (after the start or a resubscription); nothing is polled until it returns or misses.</summary>
        Checking,

        /// <summary>The last canary of every primary came back: nothing is polled.</summary>
        Proven,

        /// <summary>A canary missed its round, could not be written, or the subscription failed: polled every PollInterval.</summary>
        Unproven,
    }

    /// <summary>What the watcher knows about the delivery of <c>xadd</c> events now.</summary>
    public DeliveryState Delivery => _delivery;

    /// <summary>Completed safety passes (for tests and benchmarks).</summary>
    public long SafetyPasses => Interlocked.Read(ref _passes);

    /// <summary>Streams probed by safety passes so far, one <c>XREVRANGE</c> each (for tests and benchmarks).</summary>
    public long ProbedStreams => Interlocked.Read(ref _probed);

    /// <summary>Canary rounds that came back from every primary (for tests and benchmarks).</summary>
    public long DeliveryProofs => Interlocked.Read(ref _proofs);

    /// <summary>Canary rounds that did not (for tests and benchmarks).</summary>
    public long DeliveryMisses => Interlocked.Read(ref _misses);

    /// <summary>The canary keys of the last round, one per primary.</summary>
    public IReadOnlyList<string> CanaryKeys => _canary.Keys;

    /// <summary>Readers woken by an <c>xadd</c> event (for tests and benchmarks).</summary>
    public long EventWakeUps => Interlocked.Read(ref _eventWakeUps);

    /// <summary>Readers woken by the safety poll (for tests and benchmarks).</summary>
    public long SafetyWakeUps => Interlocked.Read(ref _safetyWakeUps);

    /// <summary>Readers sleeping at the end of their stream now (for tests and benchmarks).</summary>
    public int WaitingReaders => _router.All().Count(w => w.WaitingAfter is not null);

    /// <summary>Readers registered (reading, or waiting to read or for an entry), for tests.</summary>
    public int RegisteredReaders => _router.All().Count();

    /// <summary>
    /// Sends a canary round now: the keyspace flags were just applied (<see cref="Notifications.KeyspaceConfigurator"/>)
    /// and may have changed.
    /// </summary>
    public void CheckDeliveryNow()
    {
        Interlocked.Exchange(ref _checkRequested, 1);
        _loopWake.Set();
    }

    /// <summary>
    /// Registers a reader of <paramref name="key"/> for <paramref name="lease"/>, after the subscription is in place (first
    /// reader: subscribes; its wait for that ends on <paramref name="cancellationToken"/> or the lease's end).
    /// </summary>
    public async Task<DataStreamWaiter> RegisterAsync(string key, IReaderLease? lease, CancellationToken cancellationToken)
    {
        Task started;
        lock (_lifecycle)
        {
            started = _started ??= StartAsync();
        }

        if (started.IsCompleted)
        {
            await started.ConfigureAwait(false);
        }
        else
        {
            using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lease?.OwnershipLost ?? default);
            await started.WaitAsync(either.Token).ConfigureAwait(false);
        }

        var waiter = new DataStreamWaiter(key, lease);
        _router.Add(waiter);
        return waiter;
    }

    public void Unregister(DataStreamWaiter waiter) => _router.Remove(waiter);

    /// <summary>Wakes the readers of <paramref name="key"/> reading for <paramref name="lease"/>, whose ownership just ended.</summary>
    public void WakeReadersOf(string key, IReaderLease lease) => _router.WakeReadersOf(key, lease);

    /// <summary>Runs a safety pass now.</summary>
    public void RequestSafetyPass()
    {
        Interlocked.Exchange(ref _passRequested, 1);
        _loopWake.Set();
    }

    void IXAddListener.OnXAdd(RedisChannel channel, RedisValue message)
    {
        var woken = _router.OnMessage(channel, message);
        if (woken > 0)
        {
            Interlocked.Add(ref _eventWakeUps, woken);
        }
    }

    void IXAddListener.Resubscribed(bool subscribed)
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        // Events may have been lost while disconnected, and a restarted server may have lost its flags: prove delivery
        // again; the pass after the proof (or the polls after a miss) finds what was missed.
        _subscribed = subscribed;
        _delivery = subscribed ? DeliveryState.Checking : DeliveryState.Unproven;
        CheckDeliveryNow();
    }

    public async Task StopAsync()
    {
        Task? started;
        lock (_lifecycle)
        {
            started = _started;
            // Nothing starts after a stop: a late reader waits until its own cancellation.
            _started ??= Task.CompletedTask;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        if (started is null)
        {
            return;
        }

        await started.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _canary.Stop();
        try
        {
            await _subscription.RemoveAsync(this).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
        {
            Log.UnsubscribeFailed(_logger, ex);
        }
    }

    /// <summary>
    /// Probes every sleeping reader's stream in batches, at most <see cref="RecoverableStreamOptions.SafetyPollBudget"/>
    /// streams per second (heartbeating sleeping readers while it paces), and wakes those whose stream moved; returns how many.
    /// </summary>
    public async Task<int> SafetyPassAsync()
    {
        var waiting = new List<(DataStreamWaiter Waiter, string After)>();
        foreach (var waiter in _router.All())
        {
            if (waiter.WaitingAfter is { } after)
            {
                waiting.Add((waiter, after));
            }
        }

        var woken = 0;
        if (waiting.Count > 0)
        {
            var started = _time.GetTimestamp();
            var lastHeartbeat = started;
            var probed = 0;
            var batches = SafetyPollBatches.Plan(waiting, w => w.Waiter.Key, IsCluster());
            foreach (var wave in batches.Chunk(BatchesInFlight))
            {
                var replies = await Task.WhenAll(wave.Select(ProbeAsync)).ConfigureAwait(false);
                woken += replies.Sum();
                probed += wave.Sum(b => b.Count);
                Interlocked.Add(ref _probed, wave.Sum(b => b.Count));

                // The budget: the next wave waits until this pass is back under SafetyPollBudget streams per second.
                var ahead = TimeSpan.FromSeconds((double)probed / _budget) - _time.GetElapsedTime(started);
                while (ahead > TimeSpan.Zero && !_stopping.IsCancellationRequested)
                {
                    var step = Min(ahead, _heartbeatInterval);
                    await Task.Delay(step, _time, _stopping.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    ahead -= step;
                    if (_time.GetElapsedTime(lastHeartbeat) >= _heartbeatInterval)
                    {
                        HeartbeatSleepingReaders();
                        lastHeartbeat = _time.GetTimestamp();
                    }
                }
            }
        }

        Interlocked.Increment(ref _passes);
        return woken;
    }

    private async Task StartAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        try
        {
            _subscribed = await _subscription.AddAsync(this).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
        {
            // Without the subscription nothing is missed, only found later: the safety poll runs every PollInterval.
            _subscribed = false;
            Log.DataStreamSubscribeFailed(_logger, _subscription.Channel.ToString(), _pollInterval, ex);
        }

        _loop = Task.Run(RunAsync);
    }

    private async Task RunAsync()
    {
        var stopping = _stopping.Token;
        long lastPassStart = 0;
        var havePassed = false;
        long provenAt = 0;
        long roundSentAt = 0;
        var roundPending = false;
        var nextRound = _time.GetTimestamp();
        while (!stopping.IsCancellationRequested)
        {
            var now = _time.GetTimestamp();
            var wait = Min(_heartbeatInterval, roundPending ? _checkInterval - _time.GetElapsedTime(roundSentAt, now) : _time.GetElapsedTime(now, nextRound));
            if (_delivery == DeliveryState.Unproven && havePassed)
            {
                wait = Min(wait, _pollInterval - _time.GetElapsedTime(lastPassStart, now));
            }

            try
            {
                if (wait > TimeSpan.Zero)
                {
                    await _loopWake.WaitAsync(wait, _time, stopping).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }

            HeartbeatSleepingReaders();
            if (Interlocked.Exchange(ref _checkRequested, 0) == 1)
            {
                roundPending = false;
                nextRound = _time.GetTimestamp();
            }

            // The canary round: proven when every primary's canary came back, missed when the round ends without.
            if (roundPending)
            {
                if (_canary.AllArrived())
                {
                    roundPending = false;
                    Interlocked.Increment(ref _proofs);
                    if (_delivery != DeliveryState.Proven && _subscribed)
                    {
                        provenAt = _time.GetTimestamp();
                        _delivery = DeliveryState.Proven;
                        Log.DeliveryProven(_logger);
                    }
                }
                else if (_time.GetElapsedTime(roundSentAt) >= _checkInterval)
                {
                    roundPending = false;
                    nextRound = _time.GetTimestamp();
                    MarkUnproven("a canary did not come back within DeliveryCheckInterval");
                }
            }

            if (!roundPending && _time.GetTimestamp() >= nextRound)
            {
                roundSentAt = _time.GetTimestamp();
                nextRound = roundSentAt + (long)(_checkInterval.TotalSeconds * _time.TimestampFrequency);
                var sent = await _canary.SendAsync(IsCluster()).ConfigureAwait(false);
                if (!sent || !_subscribed)
                {
                    MarkUnproven(!_subscribed ? "the xadd keyevent subscription is not in place" : "a canary could not be written");
                }
                else
                {
                    roundPending = true;
                }
            }

            // The safety poll: only on evidence that events may have been lost.
            now = _time.GetTimestamp();
            var requested = Interlocked.Exchange(ref _passRequested, 0) == 1;
            var afterProof = _delivery == DeliveryState.Proven && (!havePassed || lastPassStart < provenAt);
            var polling = _delivery == DeliveryState.Unproven && (!havePassed || _time.GetElapsedTime(lastPassStart, now) >= _pollInterval);
            if (!requested && !afterProof && !polling)
            {
                continue;
            }

            lastPassStart = now;
            havePassed = true;
            try
            {
                await SafetyPassAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
            {
                Log.DataSafetyPollFailed(_logger, ex);
            }
        }
    }

    private void MarkUnproven(string reason)
    {
        Interlocked.Increment(ref _misses);
        if (_delivery != DeliveryState.Unproven)
        {
            _delivery = DeliveryState.Unproven;
            Log.DeliveryUnproven(_logger, reason, _pollInterval, _budget);
        }
    }

    private void HeartbeatSleepingReaders()
    {
        // Only HandlerStallTimeout reads a lease's progress: without it, a pass over every sleeping reader each second
        // would be an idle cost that grows with the streams for nothing.
        if (!_stallWatched)
        {
            return;
        }

        foreach (var waiter in _router.All())
        {
            waiter.Heartbeat();
        }
    }

    private async Task<int> ProbeAsync(List<(DataStreamWaiter Waiter, string After)> batch)
    {
        var keys = new RedisKey[batch.Count];
        var positions = new RedisValue[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            keys[i] = batch[i].Waiter.Key;
            positions[i] = batch[i].After;
        }

        var reply = await _database.ScriptEvaluateAsync(ScriptSource.Get("streams_after"), keys, positions).ConfigureAwait(false);
        var moved = (long[]?)reply ?? [];
        // Counted before the wake-ups, not at the end of the pass (which may pace for the budget first): whoever sees
        // a woken reader's entry sees it counted.
        Interlocked.Add(ref _safetyWakeUps, moved.Length);
        foreach (var index in moved)
        {
            batch[(int)index - 1].Waiter.Wake();
        }

        return moved.Length;
    }

    private bool IsCluster()
    {
        foreach (var server in _redis.GetServers())
        {
            if (server.ServerType == ServerType.Cluster)
            {
                return true;
            }
        }

        return false;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
