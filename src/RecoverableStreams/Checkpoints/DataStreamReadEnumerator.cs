using System.Threading.Tasks.Sources;
using RecoverableStreams.Notifications;
using StackExchange.Redis;

namespace RecoverableStreams.Checkpoints;

/// <summary>
/// One enumeration of a <see cref="DataStreamRead"/>: reads the data stream in order after a position (by default the
/// lease's checkpoint), a batch per read slot, and sleeps at its end on its <see cref="DataStreamWaiter"/> until woken.
/// Stops when its token fires or its lease ends (a lease's end wakes its sleeping readers), checked before each entry.
/// </summary>
/// <remarks>
/// Written by hand, not as an <c>async</c> iterator: a sleeping reader is the largest part of what an idle owned stream
/// costs, and one consumer may own hundreds of thousands. The compiler's iterator hoisted every local and kept a builder
/// box, 384 bytes a sleeping reader (gcdump, 20,000 idle streams); here a sleeping reader is this object and its waiter.
/// Each step that cannot complete at once schedules <see cref="Run"/> to go on from the next step and returns, and
/// <see cref="MoveNextAsync"/> completes through this object (<see cref="IValueTaskSource{TResult}"/>).
/// </remarks>
internal sealed class DataStreamReadEnumerator : IAsyncEnumerator<StreamEntry>, IValueTaskSource<bool>
{
    private static readonly Action<Task, object?> AfterTask = static (task, state) => ((DataStreamReadEnumerator)state!).Run(task);
    private static readonly Action<object?> AfterSleep = static state => ((DataStreamReadEnumerator)state!).Run(null);

    private readonly DataStreamReader _reader;
    private readonly StreamLease _lease;
    private readonly int _batchSize;
    private readonly CancellationToken _cancellationToken;
    private readonly CancellationTokenSource? _linked;
    private ManualResetValueTaskSourceCore<bool> _moveNext;
    private string? _position;
    private DataStreamWaiter? _waiter;
    private StreamEntry[]? _entries;
    private int _index;
    private Step _step;
    private bool _moving;
    private bool _finished;

    public DataStreamReadEnumerator(DataStreamReader reader, StreamLease lease, string? afterId, int batchSize, CancellationTokenSource? linked, CancellationToken cancellationToken)
    {
        _reader = reader;
        _lease = lease;
        _position = afterId;
        _batchSize = batchSize;
        _cancellationToken = cancellationToken;
        _linked = linked;
    }

    /// <summary>Where <see cref="Run"/> goes on from.</summary>
    private enum Step : byte
    {
        /// <summary>Nothing read yet: the checkpoint (when no position was given), then the registration.</summary>
        Start,

        /// <summary>The checkpoint's read completed.</summary>
        CheckpointRead,

        /// <summary>The start position is known: register for wake-ups.</summary>
        Register,

        /// <summary>The registration for wake-ups completed.</summary>
        Registered,

        /// <summary>Read the next batch (after the buffered one, or after a sleep).</summary>
        Read,

        /// <summary>The wait for a read slot completed.</summary>
        ReadSlotTaken,

        /// <summary>A read slot is held: send the XRANGE.</summary>
        SendRange,

        /// <summary>The XRANGE completed.</summary>
        RangeRead,

        /// <summary>The sleep at the end of the stream ended.</summary>
        Slept,
    }

    /// <summary>The entry the last <see cref="MoveNextAsync"/> that returned <see langword="true"/> moved to.</summary>
    public StreamEntry Current => _entries is { } entries && _index > 0 ? entries[_index - 1] : default;

    public ValueTask<bool> MoveNextAsync()
    {
        if (_finished)
        {
            return new ValueTask<bool>(false);
        }

        if (_moving)
        {
            throw new InvalidOperationException("MoveNextAsync was called before the previous call completed.");
        }

        if (_step != Step.Start)
        {
            try
            {
                // The handler may have spent long on the last entry: the read stops before the next one when it must.
                DataStreamReader.ThrowIfStopped(_lease, _cancellationToken);
                if (TryMoveInBatch())
                {
                    return new ValueTask<bool>(true);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException)
            {
                Finish();
                return ValueTask.FromException<bool>(ex);
            }

            _step = Step.Read;
        }

        _moving = true;
        _moveNext.Reset();
        Run(null);
        return new ValueTask<bool>(this, _moveNext.Version);
    }

    public ValueTask DisposeAsync()
    {
        if (_moving)
        {
            throw new InvalidOperationException("DisposeAsync was called while a MoveNextAsync was in flight.");
        }

        Finish();
        return default;
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _moveNext.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _moveNext.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _moveNext.OnCompleted(continuation, state, token, flags);

    /// <summary>
    /// Goes on from <see cref="_step"/> until an entry is ready (the move completes with <see langword="true"/>), the
    /// read stops (it completes with the exception), or a step must wait (it is scheduled to go on from the next step).
    /// <paramref name="completed"/> is the task the step waited for, if any.
    /// </summary>
    private void Run(Task? completed)
    {
        try
        {
            while (true)
            {
                switch (_step)
                {
                    case Step.Start:
                        DataStreamReader.ThrowIfStopped(_lease, _cancellationToken);
                        if (_position is not null)
                        {
                            _step = Step.Register;
                        }
                        else if (WaitFor(_lease.GetCheckpointAsync(_cancellationToken), Step.CheckpointRead, ref completed))
                        {
                            return;
                        }

                        break;

                    case Step.CheckpointRead:
                        _position = ResultOf<StreamCheckpoint?>(ref completed)?.Position ?? "0-0";
                        DataStreamReader.ThrowIfStopped(_lease, _cancellationToken);
                        _step = Step.Register;
                        break;

                    case Step.Register:
                        // Registered before the first read: an xadd between a read that found nothing and the sleep is not lost.
                        if (WaitFor(_reader.DataStreams.RegisterAsync(_lease.DataStreamName, _lease, _cancellationToken), Step.Registered, ref completed))
                        {
                            return;
                        }

                        break;

                    case Step.Registered:
                        _waiter = ResultOf<DataStreamWaiter>(ref completed);
                        _step = Step.Read;
                        break;

                    case Step.Read:
                        _entries = null;
                        DataStreamReader.ThrowIfStopped(_lease, _cancellationToken);
                        if (_reader.TryTakeReadSlot())
                        {
                            _step = Step.SendRange;
                        }
                        else if (WaitFor(_reader.WaitForReadSlotAsync(_lease, _cancellationToken), Step.ReadSlotTaken, ref completed))
                        {
                            return;
                        }

                        break;

                    case Step.ReadSlotTaken:
                        // Throws when the wait was cancelled: then no slot was taken.
                        completed!.GetAwaiter().GetResult();
                        completed = null;
                        _step = Step.SendRange;
                        break;

                    case Step.SendRange:
                        Task<StreamEntry[]> range;
                        try
                        {
                            range = _reader.ReadRangeAsync(_lease.DataStreamName, _position!, _batchSize);
                        }
                        catch
                        {
                            _reader.ReleaseReadSlot();
                            throw;
                        }

                        if (WaitFor(range, Step.RangeRead, ref completed))
                        {
                            return;
                        }

                        break;

                    case Step.RangeRead:
                        _reader.ReleaseReadSlot();
                        _entries = ResultOf<StreamEntry[]>(ref completed);
                        _index = 0;
                        if (TryMoveInBatch())
                        {
                            Complete();
                            return;
                        }

                        // The end of the stream: sleep until woken. Sleeping counts as progress (HandlerStallTimeout): the
                        // watcher heartbeats the lease meanwhile. The lease's end wakes it; Read then throws.
                        _entries = null;
                        _step = Step.Slept;
                        var sleep = _waiter!.WaitAsync(_position!, _cancellationToken);
                        if (!sleep.IsCompleted)
                        {
                            _waiter.OnSleepEnded(AfterSleep, this);
                            return;
                        }

                        sleep.GetAwaiter().GetResult();
                        _step = Step.Read;
                        break;

                    case Step.Slept:
                        _waiter!.EndSleep();
                        _step = Step.Read;
                        break;
                }
            }
        }
        // Whatever stops the read (cancellation, the lease's end, a Redis error) ends the enumeration with it, as an
        // iterator's exception would.
        #pragma warning disable CA1031
        catch (Exception ex)
        #pragma warning restore CA1031
        {
            Finish();
            _moving = false;
            _moveNext.SetException(ex);
        }
    }

    /// <summary>
    /// Goes on to <paramref name="next"/> with <paramref name="task"/>: returns <see langword="false"/> when it completed
    /// (it is <paramref name="completed"/> now), else schedules <see cref="Run"/> for when it completes.
    /// </summary>
    private bool WaitFor(Task task, Step next, ref Task? completed)
    {
        _step = next;
        if (task.IsCompleted)
        {
            completed = task;
            return false;
        }

        _ = task.ContinueWith(AfterTask, this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return true;
    }

    private static T ResultOf<T>(ref Task? completed)
    {
        var task = (Task<T>)completed!;
        completed = null;
        return task.GetAwaiter().GetResult();
    }

    /// <summary>Moves to the next entry of the batch read last, when there is one.</summary>
    private bool TryMoveInBatch()
    {
        if (_entries is not { } entries || _index >= entries.Length)
        {
            return false;
        }

        _position = entries[_index].Id!;
        _index++;
        _lease.Heartbeat();
        return true;
    }

    private void Complete()
    {
        _moving = false;
        _moveNext.SetResult(true);
    }

    /// <summary>Ends the enumeration once: it no longer waits for wake-ups; later moves return <see langword="false"/>.</summary>
    private void Finish()
    {
        _finished = true;
        _entries = null;
        if (_waiter is { } waiter)
        {
            _waiter = null;
            _reader.DataStreams.Unregister(waiter);
        }

        _linked?.Dispose();
    }
}
