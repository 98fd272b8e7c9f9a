using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using StackExchange.Redis;

namespace RecoverableStreams.Notifications;

/// <summary>What an <see cref="XAddSubscription"/> tells each client that shares it.</summary>
internal interface IXAddListener
{
    /// <summary>A message on the <c>xadd</c> keyevent channel; called on StackExchange.Redis' thread, so it must be quick.</summary>
    void OnXAdd(RedisChannel channel, RedisValue message);

    /// <summary>The connection came back and the subscription was renewed (or could not be); events may have been lost.</summary>
    void Resubscribed(bool subscribed);
}

/// <summary>
/// The one subscription of a connection to the <c>xadd</c> keyevent channel of a database, shared by every client on
/// that connection: the first listener subscribes, the last one unsubscribes. After every reconnect it renews the
/// subscription itself, because StackExchange.Redis 3.4 does not restore keyevent (multi-node) subscriptions after a
/// reconnect (checked with <c>CLIENT KILL TYPE pubsub</c>: <c>PUBSUB CHANNELS</c> no longer lists it), and then tells
/// the listeners, so they look for what they missed.
/// </summary>
[SuppressMessage("Design", "CA1001", Justification = "A SemaphoreSlim whose wait handle is never used holds nothing to dispose; the object lives as long as its connection.")]
internal sealed class XAddSubscription
{
    private static readonly ConditionalWeakTable<IConnectionMultiplexer, ConcurrentDictionary<int, XAddSubscription>> Shared = new();
    private readonly IConnectionMultiplexer _redis;
    private readonly RedisChannel _channel;
    private readonly Action<RedisChannel, RedisValue> _onMessage;
    private readonly EventHandler<ConnectionFailedEventArgs> _onRestored;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ImmutableArray<IXAddListener> _listeners = [];
    private bool _subscribed;

    private XAddSubscription(IConnectionMultiplexer redis, int database)
    {
        _redis = redis;
        _channel = RedisChannel.KeyEvent(KeyNotificationType.XAdd, database);
        _onMessage = OnMessage;
        _onRestored = OnConnectionRestored;
    }

    public RedisChannel Channel => _channel;

    /// <summary>The subscription of <paramref name="redis"/> for <paramref name="database"/>.</summary>
    public static XAddSubscription For(IConnectionMultiplexer redis, int database) =>
        Shared.GetValue(redis, static _ => new ConcurrentDictionary<int, XAddSubscription>())
            .GetOrAdd(database, static (db, connection) => new XAddSubscription(connection, db), redis);

    /// <summary>Adds a listener, subscribing first when needed; returns whether the subscription is in place.</summary>
    /// <exception cref="RedisException">Subscribing failed; the listener is added all the same and hears a later renewal.</exception>
    public async Task<bool> AddAsync(IXAddListener listener)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_listeners.IsEmpty)
            {
                _redis.ConnectionRestored += _onRestored;
            }

            _listeners = _listeners.Add(listener);
            if (!_subscribed)
            {
                await _redis.GetSubscriber().SubscribeAsync(_channel, _onMessage).ConfigureAwait(false);
                _subscribed = true;
            }

            return true;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task RemoveAsync(IXAddListener listener)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            _listeners = _listeners.Remove(listener);
            if (!_listeners.IsEmpty)
            {
                return;
            }

            _redis.ConnectionRestored -= _onRestored;
            if (_subscribed)
            {
                _subscribed = false;
                await _redis.GetSubscriber().UnsubscribeAsync(_channel, _onMessage).ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private void OnMessage(RedisChannel channel, RedisValue message)
    {
        foreach (var listener in _listeners)
        {
            listener.OnXAdd(channel, message);
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e) => _ = RenewAsync();

    private async Task RenewAsync()
    {
        bool subscribed;
        ImmutableArray<IXAddListener> listeners;
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            listeners = _listeners;
            if (listeners.IsEmpty)
            {
                return;
            }

            var subscriber = _redis.GetSubscriber();
            try
            {
                // Unsubscribing first makes StackExchange.Redis send a real SUBSCRIBE: it still believes it is subscribed.
                await subscriber.UnsubscribeAsync(_channel, _onMessage).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
            {
                // The server has dropped it anyway; the SUBSCRIBE below is what matters.
            }

            try
            {
                await subscriber.SubscribeAsync(_channel, _onMessage).ConfigureAwait(false);
                _subscribed = true;
            }
            catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
            {
                _subscribed = false;
            }

            subscribed = _subscribed;
        }
        finally
        {
            _gate.Release();
        }

        foreach (var listener in listeners)
        {
            listener.Resubscribed(subscribed);
        }
    }
}
