namespace RecoverableStreams.Notifications;

/// <summary>
/// A coalescing wake-up for one background loop: any number of <see cref="Set"/> calls while the loop works wake it
/// once; a set that comes before the wait is not lost.
/// </summary>
internal sealed class WakeUpSignal
{
    private readonly Lock _lock = new();
    private TaskCompletionSource _next = NewSource();

    public void Set()
    {
        lock (_lock)
        {
            _next.TrySetResult();
        }
    }

    /// <summary>Waits until <see cref="Set"/> is called; throws only on cancellation.</summary>
    public Task WaitAsync(TimeProvider time, CancellationToken cancellationToken) =>
        WaitAsync(Timeout.InfiniteTimeSpan, time, cancellationToken);

    /// <summary>
    /// Waits until <see cref="Set"/> is called or <paramref name="timeout"/> passes (<see cref="Timeout.InfiniteTimeSpan"/>:
    /// never); throws only on cancellation.
    /// </summary>
    public async Task WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        Task signalled;
        lock (_lock)
        {
            signalled = _next.Task;
        }

        if (!signalled.IsCompleted && (timeout > TimeSpan.Zero || timeout == Timeout.InfiniteTimeSpan))
        {
            await signalled.WaitAsync(timeout, time, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            if (_next.Task.IsCompleted)
            {
                _next = NewSource();
            }
        }
    }

    private static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
