using System.Threading.Channels;

namespace RecoverableStreams.Notifications;

/// <summary>
/// The client's bounded notification channel and its closing rules: nothing is written after it completes; a
/// <see cref="StreamNotificationType.StreamTerminated"/> notification is the last one; completing twice is harmless;
/// a writer waiting on a full channel gives up when the client stops, so shutdown never hangs on a reader that
/// stopped reading.
/// </summary>
internal sealed class NotificationChannel
{
    private readonly Channel<StreamNotification> _channel;
    private readonly CancellationToken _stopping;
    private int _completed;

    public NotificationChannel(int capacity, CancellationToken stopping)
    {
        _channel = Channel.CreateBounded<StreamNotification>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = false,
            SingleWriter = false,
        });
        _stopping = stopping;
    }

    public ChannelReader<StreamNotification> Reader => _channel.Reader;

    public bool IsCompleted => Volatile.Read(ref _completed) == 1;

    /// <summary>Writes with back-pressure: waits while the channel is full, until the client stops.</summary>
    public async ValueTask<bool> WriteAsync(StreamNotification notification)
    {
        if (IsCompleted)
        {
            return false;
        }

        try
        {
            await _channel.Writer.WriteAsync(notification, _stopping).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (ChannelClosedException)
        {
            return false;
        }
    }

    /// <summary>
    /// Writes without ever blocking the caller (the renewer must keep renewing): when the channel is full, the write
    /// finishes in the background. Only ownership events use this, so the backlog is bounded by the streams owned.
    /// </summary>
    public void Post(StreamNotification notification)
    {
        if (IsCompleted || _channel.Writer.TryWrite(notification))
        {
            return;
        }

        _ = WriteAsync(notification).AsTask();
    }

    /// <summary>Writes the terminal notification (when there is room) and completes the channel.</summary>
    public void Terminate(ClientTerminationReason reason)
    {
        if (IsCompleted)
        {
            return;
        }

        _channel.Writer.TryWrite(new StreamNotification
        {
            Type = StreamNotificationType.StreamTerminated,
            Payload = new LbsInfo("", ""),
            TerminationReason = reason,
        });
        Complete();
    }

    public void Complete()
    {
        if (Interlocked.Exchange(ref _completed, 1) == 0)
        {
            _channel.Writer.TryComplete();
        }
    }
}
