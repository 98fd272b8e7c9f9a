using System.Collections.Concurrent;
using RecoverableStreams.Administration;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>
/// Ownership ends exactly once, locally first (docs/ARCHITECTURE.md, "How a lease ends"): a partitioned owner stops
/// before a peer is granted its stream, a force-release reaches the old owner at once, a release is published only
/// after the lease stopped here, and a grant whose reply was lost is found and given back.
/// </summary>
[Parallelizable(ParallelScope.Self)]
public sealed class LeaseEndTests : SharedRedisTest
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Test]
    public async Task A_partitioned_owner_stops_before_a_peer_is_granted_its_stream()
    {
        var service = TestOptions.NewServiceName();
        await using var proxy = TcpProxy.Start(SharedRedis.Server.Port);
        await using var cutOff = await ConnectionMultiplexer.ConnectAsync($"{proxy.EndPoint},allowAdmin=true,abortConnect=false");
        await using var owner = await TestConsumer.StartAsync(cutOff, TestOptions.For(service, consumerId: "owner", lease: TimeSpan.FromSeconds(2)));
        var id = await new StreamPublisher(Redis, TestOptions.For(service)).AddStreamAsync("partitioned");
        await Eventually.AssertAsync(() => owner.Owned.Count == 1, Deadline, "the owner owns the stream");
        var lease = owner.Owned[0];

        // The peer looks at the old owner the moment it is told it owns the stream.
        bool? ownerStillOwned = null;
        await using var peer = await TestConsumer.StartAsync(
            Redis,
            TestOptions.For(service, consumerId: "peer", lease: TimeSpan.FromSeconds(2), autoClaim: true),
            onNotification: n =>
            {
                if (n.Type == StreamNotificationType.StreamAdded && n.Payload.IdInLbs == id)
                {
                    ownerStillOwned ??= lease.IsOwned || !lease.OwnershipLost.IsCancellationRequested;
                }

                return Task.CompletedTask;
            });

        // Sockets stay open, nothing arrives: the owner's renewal hangs (StackExchange.Redis waits 5 s for a reply).
        proxy.Blackhole();
        await Eventually.AssertAsync(() => ownerStillOwned is not null, Deadline, "the peer is granted the stream");

        Assert.Multiple(() =>
        {
            Assert.That(ownerStillOwned, Is.False, "the old owner had stopped (IsOwned false, OwnershipLost fired) when the peer was granted its stream");
            Assert.That(lease.EndReason, Is.EqualTo(LeaseEndReason.SessionEnded));
        });
        proxy.Heal();
    }

    [Test]
    public async Task A_force_released_stream_ends_at_its_old_owner_before_the_new_owner_is_granted_it()
    {
        var service = TestOptions.NewServiceName();
        await using var owner = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "owner", lease: TimeSpan.FromSeconds(10)));
        var id = await new StreamPublisher(Redis, TestOptions.For(service)).AddStreamAsync("forced");
        await Eventually.AssertAsync(() => owner.Owned.Count == 1, Deadline, "the owner owns the stream");
        var lease = owner.Owned[0];

        bool? ownerStillOwned = null;
        await using var peer = await TestConsumer.StartAsync(
            Redis,
            TestOptions.For(service, consumerId: "peer", lease: TimeSpan.FromSeconds(10), autoClaim: true),
            onNotification: n =>
            {
                if (n.Type == StreamNotificationType.StreamAdded && n.Payload.IdInLbs == id)
                {
                    ownerStillOwned ??= lease.IsOwned || !lease.OwnershipLost.IsCancellationRequested;
                }

                return Task.CompletedTask;
            });

        var forced = await new RecoverableStreamsAdmin(Redis, TestOptions.For(service)).ForceReleaseAsync(id);
        Assert.That(forced.Outcome, Is.EqualTo(ForceReleaseOutcome.Released));
        await Eventually.AssertAsync(() => ownerStillOwned is not null, Deadline, "the peer is granted the stream");

        Assert.Multiple(() =>
        {
            Assert.That(ownerStillOwned, Is.False, "the old owner's lease had ended when the new owner was granted the stream");
            Assert.That(lease.EndReason, Is.EqualTo(LeaseEndReason.ForceReleased));
            Assert.That(owner.Client.OwnedStreams, Is.Empty, "its slot is free");
            Assert.That(owner.Of(StreamNotificationType.StreamDisowned).Select(n => n.EndReason), Is.EqualTo(new LeaseEndReason?[] { LeaseEndReason.ForceReleased }), "one notification, with its reason");
        });
    }

    [Test]
    public async Task A_release_is_published_only_after_the_lease_stopped_here()
    {
        const int Streams = 20;
        var service = TestOptions.NewServiceName();
        var keys = StreamKeys.For(TestOptions.For(service));
        await using var proxy = TcpProxy.Start(SharedRedis.Server.Port);
        await using var slowReplies = await ConnectionMultiplexer.ConnectAsync($"{proxy.EndPoint},allowAdmin=true,abortConnect=false");
        await using var owner = await TestConsumer.StartAsync(slowReplies, TestOptions.For(service, consumerId: "owner", lease: TimeSpan.FromSeconds(10)));
        var publisher = new StreamPublisher(Redis, TestOptions.For(service));
        for (var i = 0; i < Streams; i++)
        {
            await publisher.AddStreamAsync("released-" + i);
        }

        await Eventually.AssertAsync(() => owner.Owned.Count == Streams, Deadline, "the owner owns every stream");
        var leases = owner.Owned.ToDictionary(l => l.IdInLbs);

        // Peers hear "released <ids>" (a release) or "closed <ids>" (DoneAsync closing the session) on the events channel
        // and claim at once: by then the owner must have stopped.
        var heard = new ConcurrentDictionary<string, bool>();
        var subscriber = Redis.GetSubscriber();
        await subscriber.SubscribeAsync(RedisChannel.Literal(keys.Events), (_, message) =>
        {
            var text = (string?)message ?? "";
            foreach (var prefix in new[] { "released ", "closed " })
            {
                if (text.StartsWith(prefix, StringComparison.Ordinal))
                {
                    foreach (var id in text[prefix.Length..].Split(' '))
                    {
                        heard.TryAdd(id, leases[id].IsOwned);
                    }
                }
            }
        });

        // The owner hears Redis' replies late: it cannot learn of a release before the peers do.
        proxy.ReplyDelay = TimeSpan.FromMilliseconds(200);
        var released = leases.Values.Take(Streams / 2).ToArray();
        foreach (var lease in released)
        {
            await owner.Client.ReleaseStreamAsync(lease.Info);
        }

        await owner.Client.DoneAsync();
        await Eventually.AssertAsync(() => heard.Count == Streams, Deadline, "every release is heard");

        Assert.Multiple(() =>
        {
            Assert.That(heard.Where(h => h.Value).Select(h => h.Key), Is.Empty, "no release was published while its lease was still owned here");
            Assert.That(released.Select(l => l.EndReason), Has.All.EqualTo(LeaseEndReason.Released));
            Assert.That(leases.Values.Except(released).Select(l => l.EndReason), Has.All.EqualTo(LeaseEndReason.Shutdown));
        });
    }

    [Test]
    public async Task A_grant_whose_reply_was_lost_is_given_back_within_one_lease()
    {
        var service = TestOptions.NewServiceName();
        var options = TestOptions.For(service, consumerId: "owner", lease: TimeSpan.FromSeconds(2));
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        await using var owner = await TestConsumer.StartAsync(Redis, options);
        var kept = await new StreamPublisher(Redis, options).AddStreamAsync("kept");
        await Eventually.AssertAsync(() => owner.Owned.Count == 1, Deadline, "the owner owns a stream");
        var session = owner.Owned[0].Session.Id;

        // The consumer takes nothing more; then Redis grants it a stream whose reply never arrives (a timeout after the
        // send): the record, the session's index member and its count, as read_acquire.lua writes them.
        await owner.Client.StopAcquiringAsync();
        var lost = await new StreamPublisher(Redis, options).AddStreamAsync("lost-reply");
        await db.StreamReadGroupAsync(keys.Lbs, keys.Group, "owner", ">", 1);
        await db.HashSetAsync(keys.Owners, lost, session + "|1");
        await db.SortedSetAddAsync(keys.Owned, session + "\0" + lost, 0);
        await db.HashIncrementAsync(keys.Counts, session);

        await Eventually.AssertAsync(async () => await Ownership.RecordAsync(db, keys, lost) is null, Deadline, "the lost grant is given back");
        Assert.Multiple(async () =>
        {
            Assert.That(await Ownership.OwnedByAsync(db, keys, session), Is.EqualTo(new[] { kept }), "the session's index holds only what it runs");
            Assert.That((long)await db.HashGetAsync(keys.Counts, session), Is.EqualTo(1));
            Assert.That(await db.SortedSetScoreAsync(keys.Free, lost), Is.Not.Null, "peers can take it at once");
            Assert.That(owner.Owned.Select(l => l.IdInLbs), Is.EqualTo(new[] { kept }));
        });
    }
}
