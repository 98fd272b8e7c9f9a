namespace RecoverableStreams.Notifications;

/// <summary>
/// One reader of one data stream, as the wake-up machinery sees it: registered for the whole read (so an <c>xadd</c>
/// between its read and its wait is not lost), and "waiting after a position" only while it sleeps at the end of the
/// stream. Only waiting readers are probed by the safety poll and told to heartbeat.
/// </summary>
internal sealed class DataStreamWaiter(string key, Action? waiting)
{
    private readonly WakeUpSignal _signal = new();
    private string? _waitingAfter;

    /// <summary>The data stream's key.</summary>
    public string Key { get; } = key;

    /// <summary>The canonical position (<c>ms-seq</c>) this reader sleeps after, or <see langword="null"/> while it reads.</summary>
    public string? WaitingAfter => Volatile.Read(ref _waitingAfter);

    /// <summary>Wakes the reader, or makes its next wait return at once when it is still reading.</summary>
    public void Wake() => _signal.Set();

    /// <summary>Tells the lease a waiting handler is alive (HandlerStallTimeout); does nothing while it reads.</summary>
    public void Heartbeat()
    {
        if (WaitingAfter is not null)
        {
            waiting?.Invoke();
        }
    }

    /// <summary>Sleeps after <paramref name="position"/> until woken; throws only on cancellation.</summary>
    public async Task WaitAsync(string position, TimeProvider time, CancellationToken cancellationToken)
    {
        Volatile.Write(ref _waitingAfter, StreamIds.Canonical(position));
        try
        {
            waiting?.Invoke();
            await _signal.WaitAsync(time, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _waitingAfter, null);
        }
    }
}
