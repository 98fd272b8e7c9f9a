namespace RecoverableStreams.Notifications;

/// <summary>A small bounded set of ids, oldest forgotten first.</summary>
internal sealed class RecentIds(int capacity)
{
    private readonly Lock _lock = new();
    private readonly HashSet<string> _set = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();

    public void Add(string id)
    {
        lock (_lock)
        {
            if (!_set.Add(id))
            {
                return;
            }

            _order.Enqueue(id);
            while (_order.Count > capacity)
            {
                _set.Remove(_order.Dequeue());
            }
        }
    }

    /// <summary>Removes the id and says whether it was there.</summary>
    public bool Remove(string id)
    {
        lock (_lock)
        {
            return _set.Remove(id);
        }
    }
}
