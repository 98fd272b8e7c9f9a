using System.Diagnostics;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>Starting and stopping: what InitAsync picks up, and what DoneAsync hands back.</summary>
[Parallelizable(ParallelScope.Self)]
public sealed class LifecycleTests : SharedRedisTest
{
    private static readonly TimeSpan StopDeadline = TimeSpan.FromSeconds(15);

    [Test]
    public async Task DoneAsync_releases_unfinished_streams_to_a_peer_at_once_without_completing_them()
    {
        var service = TestOptions.NewServiceName();
        // A 30 s lease: expiry cannot explain a handover that happens within the 5 s deadline below.
        var lease = TimeSpan.FromSeconds(30);
        var keys = StreamKeys.For(TestOptions.For(service));
        var db = Redis.GetDatabase();
        await using var leaving = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "leaving", lease: lease));
        var publisher = new StreamPublisher(Redis, TestOptions.For(service));
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await publisher.AddStreamAsync($"unfinished-{i}"));
        }

        await Eventually.AssertAsync(() => leaving.Owned.Count == 3, TimeSpan.FromSeconds(15), "the leaving consumer owns all three streams");
        await using var peer = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "peer", lease: lease, autoClaim: true));

        await leaving.Client.DoneAsync().WaitAsync(StopDeadline);
        await Eventually.AssertAsync(() => peer.Owned.Count == 3, TimeSpan.FromSeconds(5), "the peer owns the released streams well within the lease");

        var pending = await db.StreamPendingMessagesAsync(keys.Lbs, keys.Group, 10, RedisValue.Null);
        Assert.Multiple(async () =>
        {
            Assert.That(peer.Owned.Select(l => l.IdInLbs), Is.EquivalentTo(ids));
            Assert.That(await db.StreamLengthAsync(keys.Lbs), Is.EqualTo(3), "nothing was completed: every entry is still in the LBS");
            Assert.That(pending.Select(p => p.MessageId.ToString()), Is.EquivalentTo(ids), "every entry is still pending");
            Assert.That(pending.Select(p => p.ConsumerName.ToString()), Is.All.EqualTo("peer"));
            Assert.That(leaving.ChannelCompleted.IsCompleted, Is.True, "the stopped consumer's channel completed");
        });
    }

    [Test]
    public async Task DoneAsync_leaves_its_streams_to_peers_as_a_dead_sessions_in_one_wake_up_without_releasing_them_first()
    {
        const int streams = 1_200;
        var service = TestOptions.NewServiceName();
        var lease = TimeSpan.FromSeconds(30);
        var keys = StreamKeys.For(TestOptions.For(service));
        var db = Redis.GetDatabase();
        var publisher = new StreamPublisher(Redis, TestOptions.For(service));
        await using var leaving = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "leaving", lease: lease, maxConcurrentStreams: streams));
        var ids = await Task.WhenAll(Enumerable.Range(0, streams).Select(i => publisher.AddStreamAsync($"left-{i}")));
        await Eventually.AssertAsync(() => leaving.Owned.Count == streams, TimeSpan.FromSeconds(30), "the leaving consumer owns every stream");
        var session = (string)(await db.SortedSetRangeByRankAsync(keys.Sessions)).Single()!;
        var messages = new List<string>();
        var channel = RedisChannel.Literal(keys.Events);
        var subscriber = Redis.GetSubscriber();
        await subscriber.SubscribeAsync(channel, (_, m) => { lock (messages) { messages.Add((string)m!); } });

        await leaving.Client.DoneAsync().WaitAsync(StopDeadline);
        await Eventually.AssertAsync(() => { lock (messages) { return messages.Count >= 1; } }, TimeSpan.FromSeconds(5), "peers are woken");
        var freeAfterStop = await db.SortedSetLengthAsync(keys.Free);
        var deadlineAfterStop = await db.SortedSetScoreAsync(keys.Sessions, session);
        var recordsAfterStop = await db.HashLengthAsync(keys.Owners);

        await using var peer = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "peer", lease: lease, autoClaim: true, maxConcurrentStreams: streams));
        await Eventually.AssertAsync(() => peer.Owned.Count == streams, TimeSpan.FromSeconds(15), "a peer takes every stream the leaving consumer left, well within the lease");
        await subscriber.UnsubscribeAsync(channel);

        Assert.Multiple(() =>
        {
            Assert.That(freeAfterStop, Is.Zero, "nothing was released: the streams stay recorded for the closed session");
            Assert.That(recordsAfterStop, Is.EqualTo(streams));
            Assert.That(deadlineAfterStop, Is.Zero, "the session is dead at once, so its writes are refused and peers take its streams now");
            lock (messages)
            {
                Assert.That(messages.Select(m => m.Split(' ')[0]), Is.EqualTo(new[] { "closed" }), "one wake-up, no release");
                Assert.That(messages[0].Split(' ').Skip(1), Is.EquivalentTo(ids), "naming every stream it left");
            }

            Assert.That(peer.Owned.Select(l => l.IdInLbs), Is.EquivalentTo(ids));
        });
    }

    [Test]
    public async Task DoneAsync_with_hundreds_of_streams_announces_every_one_to_a_peer_that_claims_for_itself()
    {
        const int streams = 300;
        var service = TestOptions.NewServiceName();
        var lease = TimeSpan.FromSeconds(30);
        var publisher = new StreamPublisher(Redis, TestOptions.For(service));
        await using var leaving = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "leaving", lease: lease, maxConcurrentStreams: streams));
        var ids = await Task.WhenAll(Enumerable.Range(0, streams).Select(i => publisher.AddStreamAsync($"handed-over-{i}")));
        await Eventually.AssertAsync(() => leaving.Owned.Count == streams, TimeSpan.FromSeconds(30), "the leaving consumer owns every stream");

        // AutoClaim off (the Go library's model): the peer must be told of each released stream, once, to claim it.
        await using var peer = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "peer", lease: lease, maxConcurrentStreams: 1));
        await leaving.Client.DoneAsync().WaitAsync(StopDeadline);
        var released = () => peer.Notifications.Where(n => n.Type is StreamNotificationType.StreamReleased or StreamNotificationType.StreamExpired).Select(n => n.Payload.IdInLbs).ToArray();
        var allTold = await Eventually.TrueAsync(() => released().Distinct().Count() == streams, TimeSpan.FromSeconds(15));
        Assert.Multiple(() =>
        {
            Assert.That(allTold, Is.True, () => $"the peer is told of all {streams} released streams, not {released().Distinct().Count()}");
            Assert.That(released(), Is.EquivalentTo(ids), "each released stream is announced exactly once");
        });
    }

    [Test]
    public async Task A_consumer_stopped_with_DoneAsync_is_never_assigned_anything_again()
    {
        var service = TestOptions.NewServiceName();
        var keys = StreamKeys.For(TestOptions.For(service));
        var db = Redis.GetDatabase();
        await using var stopped = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "stopped", autoClaim: true));
        await using var crashing = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "crashing", autoClaim: true, maxConcurrentStreams: 2));
        await stopped.Client.DoneAsync().WaitAsync(StopDeadline);
        var notificationsAtStop = stopped.Notifications.Count;

        // New entries, and streams of a crashed peer that expire: none may go to the stopped consumer.
        await using var survivor = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "survivor", autoClaim: true, maxConcurrentStreams: 4));
        var publisher = new StreamPublisher(Redis, TestOptions.For(service));
        var ids = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            ids.Add(await publisher.AddStreamAsync($"after-stop-{i}"));
        }

        await Eventually.AssertAsync(() => crashing.Owned.Count == 2 && survivor.Owned.Count == 4, TimeSpan.FromSeconds(15), "the live consumers own all new streams");
        var crashedIds = crashing.Owned.Select(l => l.IdInLbs).ToArray();
        await crashing.CrashAsync();
        foreach (var completed in survivor.Owned.Take(2).ToArray())
        {
            await survivor.Client.CompleteStreamAsync(completed.Info);
        }

        await Eventually.AssertAsync(() => crashedIds.All(id => survivor.Owned.Any(l => l.IdInLbs == id)), TimeSpan.FromSeconds(20), "the survivor takes the crashed peer's streams");

        var pending = await db.StreamPendingMessagesAsync(keys.Lbs, keys.Group, 100, RedisValue.Null);
        var consumers = await db.SortedSetRangeByRankAsync(keys.Sessions);
        Assert.Multiple(() =>
        {
            Assert.That(stopped.Owned, Is.Empty);
            Assert.That(stopped.Notifications, Has.Count.EqualTo(notificationsAtStop), "the stopped consumer was told of nothing after it stopped");
            Assert.That(pending.Select(p => p.ConsumerName.ToString()), Has.None.EqualTo("stopped"), "no entry is pending with the stopped consumer");
            Assert.That(consumers.Select(c => c.ToString()), Has.None.StartsWith("stopped|"), "the stopped consumer's session left the sessions set");
        });
    }

    [Test]
    public async Task DoneAsync_twice_or_before_InitAsync_returns_without_error()
    {
        var options = TestOptions.For();
        var neverStarted = new RecoverableStreamClient(Redis, options);
        await neverStarted.DoneAsync().WaitAsync(StopDeadline);
        await neverStarted.DoneAsync().WaitAsync(StopDeadline);
        await neverStarted.DisposeAsync().AsTask().WaitAsync(StopDeadline);

        var started = new RecoverableStreamClient(Redis, options);
        var reader = await started.InitAsync();
        await Task.WhenAll(started.DoneAsync(), started.DoneAsync()).WaitAsync(StopDeadline);
        await started.DoneAsync().WaitAsync(StopDeadline);
        await started.DisposeAsync().AsTask().WaitAsync(StopDeadline);
        Assert.Multiple(() =>
        {
            Assert.That(reader.Completion.IsCompleted, Is.True, "the channel completed");
            Assert.That(started.IsRunning, Is.False);
            Assert.That(neverStarted.IsRunning, Is.False);
        });
    }

    [Test]
    public async Task DoneAsync_returns_while_the_notification_channel_is_full_and_nobody_reads_it()
    {
        var service = TestOptions.NewServiceName();
        var lease = TimeSpan.FromSeconds(30);
        var publisher = new StreamPublisher(Redis, TestOptions.For(service));
        await using var owner = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "owner", lease: lease, maxConcurrentStreams: 300));
        await Task.WhenAll(Enumerable.Range(0, 300).Select(i => publisher.AddStreamAsync($"flood-{i}")));
        await Eventually.AssertAsync(() => owner.Owned.Count == 300, TimeSpan.FromSeconds(30), "the owner holds 300 streams");

        // A consumer whose channel nobody reads: 300 released streams are announced to it, more than its channel holds.
        var silent = new RecoverableStreamClient(Redis, TestOptions.For(service, consumerId: "silent", lease: lease, maxConcurrentStreams: 1));
        var unread = await silent.InitAsync();
        await owner.Client.DoneAsync().WaitAsync(StopDeadline);
        var capacity = 1 + 256;
        await Eventually.AssertAsync(() => unread.Count >= capacity, TimeSpan.FromSeconds(20), "the unread channel fills up");

        var stopping = Stopwatch.StartNew();
        await silent.DoneAsync().WaitAsync(StopDeadline);
        await silent.DoneAsync().WaitAsync(StopDeadline);
        Assert.That(silent.IsRunning, Is.False, $"stopped after {stopping.ElapsedMilliseconds} ms");
    }

    [Test]
    public async Task Entries_written_before_the_first_consumer_ever_started_are_processed()
    {
        var options = TestOptions.For();
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        var publisher = new StreamPublisher(Redis, options);
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await publisher.AddStreamAsync($"early-{i}"));
        }

        Assert.That(await db.StreamGroupInfoAsync(keys.Lbs), Is.Empty, "no consumer group exists yet");
        await using var consumer = await TestConsumer.StartAsync(Redis, options);
        await Eventually.AssertAsync(() => consumer.Of(StreamNotificationType.StreamAdded).Count == 3, TimeSpan.FromSeconds(15), "the first consumer is given the early entries");
        Assert.That(consumer.Of(StreamNotificationType.StreamAdded).Select(n => n.Payload.IdInLbs), Is.EquivalentTo(ids));
    }
}
