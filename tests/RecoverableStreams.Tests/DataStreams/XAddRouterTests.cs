using RecoverableStreams.Notifications;
using StackExchange.Redis;

namespace RecoverableStreams.Tests.DataStreams;

public sealed class XAddRouterTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Test]
    public void An_xadd_keyevent_wakes_the_readers_of_that_key_and_no_other()
    {
        var router = new XAddRouter();
        var a1 = new DataStreamWaiter("orders:a", null);
        var a2 = new DataStreamWaiter("orders:a", null);
        var b = new DataStreamWaiter("orders:b", null);
        router.Add(a1);
        router.Add(a2);
        router.Add(b);

        var woken = router.OnMessage(RedisChannel.KeyEvent(KeyNotificationType.XAdd, 0), "orders:a");

        Assert.Multiple(() =>
        {
            Assert.That(woken, Is.EqualTo(2));
            Assert.That(IsWoken(a1) && IsWoken(a2), Is.True, "both readers of orders:a are woken");
            Assert.That(IsWoken(b), Is.False, "the reader of orders:b sleeps on");
        });
    }

    [Test]
    public void Messages_other_than_xadd_keyevents_wake_nobody()
    {
        var router = new XAddRouter();
        var waiter = new DataStreamWaiter("orders:a", null);
        router.Add(waiter);

        Assert.Multiple(() =>
        {
            Assert.That(router.OnMessage(RedisChannel.KeyEvent(KeyNotificationType.XDel, 0), "orders:a"), Is.Zero, "xdel");
            Assert.That(router.OnMessage(RedisChannel.KeySpaceSingleKey("orders:a", 0), "xadd"), Is.Zero, "a keyspace message");
            Assert.That(router.OnMessage(RedisChannel.Literal("orders:a"), "xadd"), Is.Zero, "a plain channel");
            Assert.That(router.OnMessage(RedisChannel.KeyEvent(KeyNotificationType.XAdd, 0), "orders:unknown"), Is.Zero, "a key nobody reads");
            Assert.That(IsWoken(waiter), Is.False);
        });
    }

    [Test]
    public void Keys_longer_than_the_stack_buffer_and_non_ascii_keys_are_routed()
    {
        var router = new XAddRouter();
        var longKey = "orders:" + new string('x', 5000);
        var unicodeKey = "commandes:café-Ω";
        var longWaiter = new DataStreamWaiter(longKey, null);
        var unicodeWaiter = new DataStreamWaiter(unicodeKey, null);
        router.Add(longWaiter);
        router.Add(unicodeWaiter);

        Assert.Multiple(() =>
        {
            Assert.That(router.OnMessage(RedisChannel.KeyEvent(KeyNotificationType.XAdd, 3), longKey), Is.EqualTo(1));
            Assert.That(router.OnMessage(RedisChannel.KeyEvent(KeyNotificationType.XAdd, 3), unicodeKey), Is.EqualTo(1));
            Assert.That(IsWoken(longWaiter) && IsWoken(unicodeWaiter), Is.True);
        });
    }

    [Test]
    public void A_removed_reader_is_no_longer_woken_and_its_key_is_forgotten_when_it_was_the_last()
    {
        var router = new XAddRouter();
        var first = new DataStreamWaiter("orders:a", null);
        var second = new DataStreamWaiter("orders:a", null);
        router.Add(first);
        router.Add(second);

        router.Remove(first);
        Assert.That(router.Route("orders:a"), Is.EqualTo(1));
        Assert.That(router.StreamCount, Is.EqualTo(1));

        router.Remove(second);
        router.Remove(second);
        Assert.Multiple(() =>
        {
            Assert.That(router.Route("orders:a"), Is.Zero);
            Assert.That(router.StreamCount, Is.Zero, "the last reader's key is removed");
            Assert.That(router.All(), Is.Empty);
        });
    }

    [Test]
    public async Task Readers_added_and_removed_concurrently_on_one_key_are_never_lost()
    {
        var router = new XAddRouter();
        var keep = Enumerable.Range(0, 64).Select(_ => new DataStreamWaiter("hot", null)).ToArray();
        var churn = Enumerable.Range(0, 64).Select(_ => new DataStreamWaiter("hot", null)).ToArray();

        await Task.WhenAll(
            keep.Select(w => Task.Run(() => router.Add(w)))
                .Concat(churn.Select(w => Task.Run(() =>
                {
                    router.Add(w);
                    router.Remove(w);
                }))));

        Assert.That(router.All(), Is.EquivalentTo(keep));
        Assert.That(router.Route("hot"), Is.EqualTo(keep.Length));
    }

    [Test]
    public async Task A_wake_before_the_wait_is_not_lost_and_a_sleeping_reader_shows_its_position()
    {
        var waiter = new DataStreamWaiter("orders:a", null);
        waiter.Wake();
        await waiter.WaitAsync("5", CancellationToken.None).AsTask().WaitAsync(Deadline);

        using var stop = new CancellationTokenSource();
        var sleeping = waiter.WaitAsync("00017-0002", stop.Token).AsTask();
        Assert.That(waiter.WaitingAfter, Is.EqualTo("17-2"), "the position is canonical while it sleeps");
        waiter.Wake();
        await sleeping.WaitAsync(Deadline);
        Assert.That(waiter.WaitingAfter, Is.Null, "not waiting once woken");
    }

    [Test]
    public async Task Heartbeats_reach_the_lease_only_while_the_reader_sleeps()
    {
        var lease = new CountingLease();
        var waiter = new DataStreamWaiter("orders:a", lease);
        waiter.Heartbeat();
        Assert.That(lease.Beats, Is.Zero, "a reading reader is not heartbeaten by the watcher");

        using var stop = new CancellationTokenSource();
        var sleeping = waiter.WaitAsync("1-0", stop.Token).AsTask();
        Assert.That(lease.Beats, Is.EqualTo(1), "going to sleep counts as progress");
        waiter.Heartbeat();
        waiter.Heartbeat();
        Assert.That(lease.Beats, Is.EqualTo(3));
        await stop.CancelAsync();
        Assert.That(async () => await sleeping, Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public async Task A_lease_end_wakes_only_the_readers_of_that_lease()
    {
        var router = new XAddRouter();
        var ended = new CountingLease();
        var other = new CountingLease();
        var reader = new DataStreamWaiter("orders:a", ended);
        var peer = new DataStreamWaiter("orders:a", other);
        router.Add(reader);
        router.Add(peer);
        var sleeping = reader.WaitAsync("1-0", CancellationToken.None).AsTask();
        var peerSleeping = peer.WaitAsync("1-0", CancellationToken.None).AsTask();

        router.WakeReadersOf("orders:a", ended);

        await sleeping.WaitAsync(Deadline);
        Assert.Multiple(() =>
        {
            Assert.That(peerSleeping.IsCompleted, Is.False, "the other lease's reader sleeps on");
            Assert.That(reader.WaitingAfter, Is.Null);
            Assert.That(peer.WaitingAfter, Is.EqualTo("1-0"));
        });
    }

    [Test]
    public async Task A_token_cancelled_before_the_wait_or_during_it_ends_it_once_and_the_next_wait_sleeps_again()
    {
        var waiter = new DataStreamWaiter("orders:a", null);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        Assert.That(() => waiter.WaitAsync("1-0", cancelled.Token).AsTask(), Throws.InstanceOf<OperationCanceledException>());

        using var stop = new CancellationTokenSource();
        var sleeping = waiter.WaitAsync("1-0", stop.Token).AsTask();
        await stop.CancelAsync();
        Assert.That(async () => await sleeping.WaitAsync(Deadline), Throws.InstanceOf<OperationCanceledException>());

        var again = waiter.WaitAsync("2-0", CancellationToken.None).AsTask();
        Assert.That(again.IsCompleted, Is.False, "the cancelled wait left no wake-up behind");
        waiter.Wake();
        await again.WaitAsync(Deadline);
    }

    /// <summary>A signalled waiter's wait completes synchronously; an unsignalled one stays pending (no timing involved).</summary>
    private static bool IsWoken(DataStreamWaiter waiter) =>
        waiter.WaitAsync("0-0", CancellationToken.None).AsTask().IsCompleted;

    private sealed class CountingLease : IReaderLease
    {
        public int Beats { get; private set; }

        public CancellationToken OwnershipLost => CancellationToken.None;

        public void Heartbeat() => Beats++;
    }
}
