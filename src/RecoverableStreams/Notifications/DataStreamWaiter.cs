using System.Threading.Tasks.Sources;

namespace RecoverableStreams.Notifications;

/// <summary>
/// One reader of one data stream, as the wake-up machinery sees it: registered for the whole read (so an <c>xadd</c>
/// between its read and its wait is not lost), and "waiting after a position" only while it sleeps at the end of the
/// stream. Only waiting readers are probed by the safety poll and told to heartbeat.
/// </summary>
/// <remarks>
/// A reader sleeps on this object itself (it is the <see cref="IValueTaskSource"/> its wait returns): a sleeping reader
/// holds no task, no lock and no wake-up signal of its own, only this object and its one cancellation registration,
/// since an idle consumer may hold hundreds of thousands of them. One wait at a time (its reader's).
/// </remarks>
internal sealed class DataStreamWaiter(string key, IReaderLease? lease) : IValueTaskSource
{
    /// <summary>Reading; no wake-up pending.</summary>
    private const int Reading = 0;

    /// <summary>Woken while reading: the next wait returns at once.</summary>
    private const int WakePending = 1;

    /// <summary>In a wait; the first of a wake-up and a cancellation completes it.</summary>
    private const int Sleeping = 2;

    private ManualResetValueTaskSourceCore<bool> _sleep = new() { RunContinuationsAsynchronously = true };
    private CancellationTokenRegistration _cancellation;
    private string? _waitingAfter;
    private int _state;

    /// <summary>The data stream's key.</summary>
    public string Key { get; } = key;

    /// <summary>The lease the reader reads for: heartbeaten while it sleeps; its end wakes the reader (<see cref="XAddRouter.WakeReadersOf"/>).</summary>
    public IReaderLease? Lease { get; } = lease;

    /// <summary>The canonical position (<c>ms-seq</c>) this reader sleeps after, or <see langword="null"/> while it reads.</summary>
    public string? WaitingAfter => Volatile.Read(ref _waitingAfter);

    /// <summary>Wakes the reader, or makes its next wait return at once when it is still reading.</summary>
    public void Wake()
    {
        while (true)
        {
            switch (Volatile.Read(ref _state))
            {
                case Sleeping when Interlocked.CompareExchange(ref _state, Reading, Sleeping) == Sleeping:
                    _sleep.SetResult(false);
                    return;
                case Reading when Interlocked.CompareExchange(ref _state, WakePending, Reading) == Reading:
                case WakePending:
                    return;
            }
        }
    }

    /// <summary>Tells the lease a waiting handler is alive (HandlerStallTimeout); does nothing while it reads.</summary>
    public void Heartbeat()
    {
        if (WaitingAfter is not null)
        {
            Lease?.Heartbeat();
        }
    }

    /// <summary>Sleeps after <paramref name="position"/> until woken; throws only on cancellation.</summary>
    public ValueTask WaitAsync(string position, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Lease?.Heartbeat();
        if (Interlocked.CompareExchange(ref _state, Reading, WakePending) == WakePending)
        {
            return ValueTask.CompletedTask;
        }

        Volatile.Write(ref _waitingAfter, StreamIds.Canonical(position));
        _sleep.Reset();
        // Registered before the sleep is published, so that the completion (on another thread) always disposes it.
        _cancellation = cancellationToken.UnsafeRegister(static state => ((DataStreamWaiter)state!).Cancel(), this);
        if (Interlocked.CompareExchange(ref _state, Sleeping, Reading) != Reading)
        {
            // A wake-up came in between: the wait is over before it began.
            Finish();
            Volatile.Write(ref _state, Reading);
            return ValueTask.CompletedTask;
        }

        if (cancellationToken.IsCancellationRequested)
        {
            // Cancelled before the sleep was published: the callback found no sleep to end.
            Cancel();
        }

        return new ValueTask(this, _sleep.Version);
    }

    /// <summary>
    /// Runs <paramref name="continuation"/> (on the thread pool) when the sleep that <see cref="WaitAsync"/> just began
    /// ends: what awaiting its task does, without a delegate per reader (<see cref="Checkpoints.DataStreamReadEnumerator"/>).
    /// </summary>
    public void OnSleepEnded(Action<object?> continuation, object state) =>
        _sleep.OnCompleted(continuation, state, _sleep.Version, ValueTaskSourceOnCompletedFlags.None);

    /// <summary>Reports how the sleep <see cref="OnSleepEnded"/> waited for ended: throws when it was cancelled.</summary>
    public void EndSleep() => ((IValueTaskSource)this).GetResult(_sleep.Version);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _sleep.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _sleep.OnCompleted(continuation, state, token, flags);

    void IValueTaskSource.GetResult(short token)
    {
        var cancelled = _sleep.GetResult(token);
        // The registration knows its token: no field of its own for it (one waiter per idle stream).
        var cancellationToken = _cancellation.Token;
        Finish();
        if (cancelled)
        {
            throw new OperationCanceledException(cancellationToken);
        }
    }

    private void Cancel()
    {
        if (Interlocked.CompareExchange(ref _state, Reading, Sleeping) == Sleeping)
        {
            _sleep.SetResult(true);
        }
    }

    private void Finish()
    {
        _cancellation.Dispose();
        _cancellation = default;
        Volatile.Write(ref _waitingAfter, null);
    }
}
