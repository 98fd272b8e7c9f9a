using RecoverableStreams.Notifications;

namespace RecoverableStreams.Tests;

public sealed class NotificationChannelTests
{
    private static StreamNotification Added(string name) => new() { Type = StreamNotificationType.StreamAdded, Payload = new LbsInfo(name, "1-0") };

    private static async Task<List<StreamNotification>> DrainAsync(NotificationChannel channel)
    {
        var all = new List<StreamNotification>();
        await foreach (var notification in channel.Reader.ReadAllAsync().WithCancellation(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token))
        {
            all.Add(notification);
        }

        return all;
    }

    [Test]
    public async Task Nothing_is_written_after_complete()
    {
        var channel = new NotificationChannel(10, CancellationToken.None);
        Assert.That(await channel.WriteAsync(Added("before")), Is.True);

        channel.Complete();

        Assert.That(channel.IsCompleted, Is.True);
        Assert.That(await channel.WriteAsync(Added("after")), Is.False);
        channel.Post(Added("posted after"));
        Assert.That((await DrainAsync(channel)).Select(n => n.Payload.DataStreamName), Is.EqualTo(new[] { "before" }));
    }

    [Test]
    public async Task Terminate_writes_stream_terminated_last_and_completes()
    {
        var channel = new NotificationChannel(10, CancellationToken.None);
        await channel.WriteAsync(Added("a"));
        channel.Post(Added("b"));

        channel.Terminate(ClientTerminationReason.LbsKeyNotAStream);
        channel.Post(Added("late"));
        channel.Terminate(ClientTerminationReason.LbsKeyNotAStream);

        var all = await DrainAsync(channel);
        Assert.That(all.Select(n => n.Type), Is.EqualTo(new[] { StreamNotificationType.StreamAdded, StreamNotificationType.StreamAdded, StreamNotificationType.StreamTerminated }));
        Assert.That(all[^1].TerminationReason, Is.EqualTo(ClientTerminationReason.LbsKeyNotAStream));
        Assert.That(channel.Reader.Completion.IsCompleted, Is.True);
    }

    [Test]
    public async Task Completing_twice_is_harmless()
    {
        var channel = new NotificationChannel(10, CancellationToken.None);
        await channel.WriteAsync(Added("a"));

        channel.Complete();
        Assert.DoesNotThrow(channel.Complete);
        Assert.DoesNotThrow(() => channel.Terminate(ClientTerminationReason.LbsKeyNotAStream));

        var all = await DrainAsync(channel);
        Assert.That(all.Select(n => n.Type), Is.EqualTo(new[] { StreamNotificationType.StreamAdded }), "no StreamTerminated after a normal completion");
        await channel.Reader.Completion;
    }

    [Test]
    public async Task A_write_waiting_on_a_full_channel_returns_false_when_the_client_stops()
    {
        using var stopping = new CancellationTokenSource();
        var channel = new NotificationChannel(1, stopping.Token);
        Assert.That(await channel.WriteAsync(Added("fills it")), Is.True);

        var waiting = channel.WriteAsync(Added("waits")).AsTask();
        Assert.That(waiting.IsCompleted, Is.False, "the second write waits for room");

        await stopping.CancelAsync();

        Assert.That(await waiting.WaitAsync(TimeSpan.FromSeconds(10)), Is.False);
    }

    [Test]
    public async Task A_write_waiting_on_a_full_channel_completes_when_the_reader_makes_room()
    {
        var channel = new NotificationChannel(1, CancellationToken.None);
        await channel.WriteAsync(Added("first"));
        var waiting = channel.WriteAsync(Added("second")).AsTask();

        Assert.That(channel.Reader.TryRead(out var first), Is.True);

        Assert.That(await waiting.WaitAsync(TimeSpan.FromSeconds(10)), Is.True);
        Assert.That(first!.Payload.DataStreamName, Is.EqualTo("first"));
        Assert.That(channel.Reader.TryRead(out var second) ? second.Payload.DataStreamName : null, Is.EqualTo("second"));
    }
}
