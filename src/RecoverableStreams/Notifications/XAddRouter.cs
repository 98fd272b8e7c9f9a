using System.Buffers;
using System.Collections.Concurrent;
using StackExchange.Redis;

namespace RecoverableStreams.Notifications;

/// <summary>
/// Routes <c>xadd</c> keyevent messages (the message is the key) to the readers of that key, in the client: one
/// dictionary lookup per message, no allocation for keys nobody reads, and no per-stream subscription in Redis. A key's
/// value is its one reader itself (the usual case: one handler per stream, so no array per idle stream), or an
/// immutable array when it has several, replaced by compare-and-swap.
/// </summary>
internal sealed class XAddRouter
{
    private const int StackKeyChars = 256;
    private readonly ConcurrentDictionary<string, object> _waiters = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, object>.AlternateLookup<ReadOnlySpan<char>> _byKeySpan;
    private readonly ConcurrentDictionary<string, Action> _probes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Action>.AlternateLookup<ReadOnlySpan<char>> _probeBySpan;

    public XAddRouter()
    {
        _byKeySpan = _waiters.GetAlternateLookup<ReadOnlySpan<char>>();
        _probeBySpan = _probes.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>How many streams have at least one registered reader.</summary>
    public int StreamCount => _waiters.Count;

    public void Add(DataStreamWaiter waiter) =>
        _waiters.AddOrUpdate(waiter.Key, static (_, w) => w, static (_, current, w) => With(current, w), waiter);

    public void Remove(DataStreamWaiter waiter)
    {
        while (_waiters.TryGetValue(waiter.Key, out var current))
        {
            var next = Without(current, waiter);
            if (ReferenceEquals(next, current))
            {
                return;
            }

            // Compare-and-swap on the value (compared by reference): a reader registering for the same key at the same
            // time is never dropped.
            var swapped = next is null
                ? _waiters.TryRemove(new KeyValuePair<string, object>(waiter.Key, current))
                : _waiters.TryUpdate(waiter.Key, next, current);
            if (swapped)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Calls <paramref name="arrived"/> for every <c>xadd</c> event of <paramref name="key"/> (the delivery canary); a
    /// probe key wakes no reader.
    /// </summary>
    public void SetProbe(string key, Action arrived) => _probes[key] = arrived;

    /// <summary>Stops calling back for <paramref name="key"/>.</summary>
    public void RemoveProbe(string key) => _probes.TryRemove(key, out _);

    /// <summary>Wakes every reader of <paramref name="key"/>; returns how many.</summary>
    public int Route(ReadOnlySpan<char> key)
    {
        if (!_probes.IsEmpty && _probeBySpan.TryGetValue(key, out var arrived))
        {
            arrived();
            return 0;
        }

        if (!_byKeySpan.TryGetValue(key, out var waiters))
        {
            return 0;
        }

        if (waiters is DataStreamWaiter single)
        {
            single.Wake();
            return 1;
        }

        var several = (DataStreamWaiter[])waiters;
        foreach (var waiter in several)
        {
            waiter.Wake();
        }

        return several.Length;
    }

    /// <summary>
    /// Wakes the readers of <paramref name="key"/> that read for <paramref name="lease"/>, whose ownership has just ended:
    /// each then finds <see cref="StreamLease.OwnershipLost"/> fired and stops (a reader still reading stops at its next wait).
    /// </summary>
    public void WakeReadersOf(string key, IReaderLease lease)
    {
        if (!_waiters.TryGetValue(key, out var waiters))
        {
            return;
        }

        if (waiters is DataStreamWaiter single)
        {
            WakeIfOf(single);
            return;
        }

        foreach (var waiter in (DataStreamWaiter[])waiters)
        {
            WakeIfOf(waiter);
        }

        void WakeIfOf(DataStreamWaiter waiter)
        {
            if (ReferenceEquals(waiter.Lease, lease))
            {
                waiter.Wake();
            }
        }
    }

    /// <summary>Routes one pub/sub message when it is an <c>xadd</c> keyevent; returns how many readers it woke.</summary>
    public int OnMessage(RedisChannel channel, RedisValue message)
    {
        if (!KeyNotification.TryParse(in channel, in message, out var notification)
            || notification.Kind != KeyNotificationKind.KeyEvent
            || notification.Type != KeyNotificationType.XAdd)
        {
            return 0;
        }

        var maxChars = notification.GetKeyMaxCharCount();
        char[]? rented = null;
        var buffer = maxChars <= StackKeyChars ? stackalloc char[StackKeyChars] : (rented = ArrayPool<char>.Shared.Rent(maxChars));
        try
        {
            return notification.TryCopyKey(buffer, out var written) ? Route(buffer[..written]) : 0;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Every registered reader (a moment's view; readers come and go while it is read).</summary>
    public IEnumerable<DataStreamWaiter> All()
    {
        foreach (var pair in _waiters)
        {
            if (pair.Value is DataStreamWaiter single)
            {
                yield return single;
                continue;
            }

            foreach (var waiter in (DataStreamWaiter[])pair.Value)
            {
                yield return waiter;
            }
        }
    }

    private static DataStreamWaiter[] With(object current, DataStreamWaiter waiter) =>
        current is DataStreamWaiter single ? new[] { single, waiter } : [.. (DataStreamWaiter[])current, waiter];

    /// <summary>The value without <paramref name="waiter"/>: <paramref name="current"/> itself when it is not there, <see langword="null"/> when none is left.</summary>
    private static object? Without(object current, DataStreamWaiter waiter)
    {
        if (current is DataStreamWaiter single)
        {
            return ReferenceEquals(single, waiter) ? null : current;
        }

        var several = (DataStreamWaiter[])current;
        var index = Array.IndexOf(several, waiter);
        return index switch
        {
            < 0 => current,
            _ when several.Length == 2 => several[1 - index],
            _ => several.Where((_, i) => i != index).ToArray(),
        };
    }
}
