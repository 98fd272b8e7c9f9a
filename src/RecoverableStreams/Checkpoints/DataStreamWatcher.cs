using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Logging;
using RecoverableStreams.Diagnostics;
using RecoverableStreams.Notifications;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.Checkpoints;

/// <summary>
/// Watches every data stream a reader of this client sleeps on, at a cost that does not grow with idle streams: one
/// subscription to the <c>xadd</c> keyevent channel, routed by key in the client (<see cref="XAddRouter"/>); one
/// background loop that tells sleeping readers' leases they are alive (no Redis call) and runs the batched safety poll
/// for lost pub/sub messages (<c>streams_after.lua</c>, up to 500 streams per call) every
/// <see cref="RecoverableStreamOptions.DataSafetyPollInterval"/>, or every <see cref="RecoverableStreamOptions.PollInterval"/>
/// while <c>xadd</c> events are not known to arrive. After a reconnect, once the subscription is renewed
/// (<see cref="XAddSubscription"/>), a safety pass runs at once. Nothing is subscribed or started before the first reader.
/// </summary>
[SuppressMessage("Design", "CA1001", Justification = "A CancellationTokenSource without a timer holds nothing to dispose; StopAsync ends the watcher.")]
internal sealed class DataStreamWatcher : IXAddListener
{
    private const int BatchesInFlight = 4;
    private readonly IConnectionMultiplexer _redis;
    private readonly IDatabaseAsync _database;
    private readonly XAddSubscription _subscription;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TimeSpan _pollInterval;
    private readonly TimeSpan _safetyInterval;
    private readonly TimeSpan _heartbeatInterval;
    private readonly XAddRouter _router = new();
    private readonly WakeUpSignal _loopWake = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lifecycle = new();
    private Task? _started;
    private Task _loop = Task.CompletedTask;
    private volatile bool _subscribed;
    private volatile bool _eventsConfirmed;
    private volatile bool _eventsSeen;
    private int _passRequested;
    private long _passes;
    private long _eventWakeUps;
    private long _safetyWakeUps;

    public DataStreamWatcher(IConnectionMultiplexer redis, IDatabase database, RecoverableStreamOptions options, ILogger logger, TimeProvider time)
    {
        _redis = redis;
        _database = database;
        _subscription = XAddSubscription.For(redis, database.Database);
        _logger = logger;
        _time = time;
        _pollInterval = options.PollInterval;
        _safetyInterval = options.DataSafetyPollInterval;
        // Often enough that a sleeping reader never looks stalled (HandlerStallTimeout), and never more than PollInterval.
        _heartbeatInterval = options.HandlerStallTimeout is { } stall && stall / 4 < options.PollInterval ? stall / 4 : options.PollInterval;
    }

    /// <summary>The interval of the safety poll now: long while <c>xadd</c> events are known to arrive, else PollInterval.</summary>
    public TimeSpan SafetyPassInterval => _subscribed && (_eventsConfirmed || _eventsSeen) ? _safetyInterval : _pollInterval;

    /// <summary>Completed safety passes (for tests and benchmarks).</summary>
    public long SafetyPasses => Interlocked.Read(ref _passes);

    /// <summary>Readers woken by an <c>xadd</c> event (for tests and benchmarks).</summary>
    public long EventWakeUps => Interlocked.Read(ref _eventWakeUps);

    /// <summary>Readers woken by the safety poll (for tests and benchmarks).</summary>
    public long SafetyWakeUps => Interlocked.Read(ref _safetyWakeUps);

    /// <summary>Readers sleeping at the end of their stream now (for tests and benchmarks).</summary>
    public int WaitingReaders => _router.All().Count(w => w.WaitingAfter is not null);

    /// <summary>
    /// Whether the keyspace flags for <c>xadd</c> keyevents were confirmed on every primary (by
    /// <see cref="Notifications.KeyspaceConfigurator"/>); without that, the safety poll runs every PollInterval until an
    /// <c>xadd</c> event is seen.
    /// </summary>
    public void UseEvents(bool confirmed) => _eventsConfirmed = confirmed;

    /// <summary>Registers a reader of <paramref name="key"/>, after the subscription is in place (first reader: subscribes).</summary>
    public async Task<DataStreamWaiter> RegisterAsync(string key, Action? waiting, CancellationToken cancellationToken)
    {
        Task started;
        lock (_lifecycle)
        {
            started = _started ??= StartAsync();
        }

        await started.WaitAsync(cancellationToken).ConfigureAwait(false);
        var waiter = new DataStreamWaiter(key, waiting);
        _router.Add(waiter);
        return waiter;
    }

    public void Unregister(DataStreamWaiter waiter) => _router.Remove(waiter);

    /// <summary>Runs a safety pass now.</summary>
    public void RequestSafetyPass()
    {
        Interlocked.Exchange(ref _passRequested, 1);
        _loopWake.Set();
    }

    void IXAddListener.OnXAdd(RedisChannel channel, RedisValue message)
    {
        _eventsSeen = true;
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

        // Events may have been lost while disconnected, and a restarted server may have lost its flags.
        _subscribed = subscribed;
        _eventsSeen = false;
        RequestSafetyPass();
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
        try
        {
            await _subscription.RemoveAsync(this).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
        {
            Log.UnsubscribeFailed(_logger, ex);
        }
    }

    /// <summary>Probes every sleeping reader's stream in batches and wakes those whose stream moved; returns how many.</summary>
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
            var batches = SafetyPollBatches.Plan(waiting, w => w.Waiter.Key, IsCluster());
            foreach (var wave in batches.Chunk(BatchesInFlight))
            {
                var replies = await Task.WhenAll(wave.Select(ProbeAsync)).ConfigureAwait(false);
                woken += replies.Sum();
            }
        }

        Interlocked.Add(ref _safetyWakeUps, woken);
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
            Log.DataStreamSubscribeFailed(_logger, _subscription.Channel.ToString(), _pollInterval, ex);
        }

        _loop = Task.Run(RunAsync);
    }

    private async Task RunAsync()
    {
        var stopping = _stopping.Token;
        var lastPass = _time.GetTimestamp();
        while (!stopping.IsCancellationRequested)
        {
            var now = _time.GetTimestamp();
            var wait = Min(_heartbeatInterval, SafetyPassInterval - _time.GetElapsedTime(lastPass, now));

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
            now = _time.GetTimestamp();
            var requested = Interlocked.Exchange(ref _passRequested, 0) == 1;
            if (!requested && _time.GetElapsedTime(lastPass, now) < SafetyPassInterval)
            {
                continue;
            }

            lastPass = now;
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

    private void HeartbeatSleepingReaders()
    {
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
