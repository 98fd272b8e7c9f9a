using System.Diagnostics;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

public sealed class FailoverTests : SharedRedisTest
{
    [Test]
    public async Task After_a_crash_another_consumer_takes_exactly_the_unfinished_streams()
    {
        var service = TestOptions.NewServiceName();
        var publisher = new StreamPublisher(Redis, TestOptions.For(service));
        var owner = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "owner"));
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await publisher.AddStreamAsync($"stream-{i}", new Dictionary<string, object?> { ["i"] = i }));
        }

        await Eventually.AssertAsync(() => owner.Owned.Count == 5, TimeSpan.FromSeconds(10), "the owner owns all five streams");
        await owner.Client.CompleteStreamAsync("stream-0");
        await owner.Client.CompleteStreamAsync("stream-3");
        await using var survivor = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "survivor", autoClaim: true));
        var leaseExpiry = owner.Owned.Max(l => l.ExpiresAt);
        var unfinished = owner.Owned.Select(l => l.IdInLbs).ToArray();
        var ownerTokens = owner.Owned.Max(l => l.FencingToken);

        await owner.CrashAsync();

        await Eventually.AssertAsync(() => survivor.Owned.Count == 3, TimeSpan.FromSeconds(15), "the survivor takes the three unfinished streams");
        var claimedAt = DateTimeOffset.UtcNow;
        await TestContext.Out.WriteLineAsync($"Failover (lease expiry to claim of all 3): {(claimedAt - leaseExpiry).TotalMilliseconds:0} ms");

        Assert.That(survivor.Owned.Select(l => l.IdInLbs), Is.EquivalentTo(unfinished));
        Assert.That(survivor.Owned.Select(l => l.DataStreamName), Is.EquivalentTo(new[] { "stream-1", "stream-2", "stream-4" }));
        var added = survivor.Of(StreamNotificationType.StreamAdded);
        Assert.That(added, Has.Count.EqualTo(3));
        Assert.That(added.Select(n => n.Lease!.Origin), Is.All.EqualTo(LeaseOrigin.Claimed));
        Assert.That(added.Select(n => n.Lease!.FencingToken), Is.All.GreaterThan(ownerTokens));
        Assert.That(added.Select(n => n.AdditionalInfo!["i"].GetInt32()), Is.EquivalentTo(new[] { 1, 2, 4 }));
    }

    [Test]
    public async Task Two_consumers_racing_to_claim_an_expired_stream_have_exactly_one_winner()
    {
        const int Rounds = 3;
        const int StreamsPerRound = 4;
        var service = TestOptions.NewServiceName();
        var publisher = new StreamPublisher(Redis, TestOptions.For(service));
        // One short-lived owner per round (leases of 1 s, so they expire soon after the crash), each full with its
        // round's streams before the racers start, so the racers read nothing new.
        var owners = new List<(TestConsumer Owner, List<string> Ids)>();
        for (var round = 0; round < Rounds; round++)
        {
            var owner = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: $"owner-{round}", lease: TimeSpan.FromSeconds(1), maxConcurrentStreams: StreamsPerRound));
            var roundIds = new List<string>();
            for (var i = 0; i < StreamsPerRound; i++)
            {
                roundIds.Add(await publisher.AddStreamAsync($"r{round}-s{i}"));
            }

            await Eventually.AssertAsync(() => owner.Owned.Count == StreamsPerRound, TimeSpan.FromSeconds(10), $"owner {round} takes its round's streams");
            owners.Add((owner, roundIds));
        }

        try
        {
            await using var left = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "left"));
            await using var right = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "right"));
            var wins = new Dictionary<string, int> { ["left"] = 0, ["right"] = 0 };

            for (var round = 0; round < Rounds; round++)
            {
                var (owner, ids) = owners[round];
                await owner.CrashAsync();

                bool Told(TestConsumer c) => ids.All(id => c.Of(StreamNotificationType.StreamExpired).Any(n => n.Payload.IdInLbs == id));
                await Eventually.AssertAsync(() => Told(left) && Told(right), TimeSpan.FromSeconds(15), $"round {round}: both consumers are told about every expired stream");

                foreach (var id in ids)
                {
                    var info = left.Of(StreamNotificationType.StreamExpired).First(n => n.Payload.IdInLbs == id).Payload;
                    // Alternate who starts first, so each side gets to be the earlier claimer.
                    var racers = new[] { (Name: "left", Consumer: left), (Name: "right", Consumer: right) };
                    if (ids.IndexOf(id) % 2 == 1)
                    {
                        Array.Reverse(racers);
                    }

                    var attempts = racers
                        .Select(async x =>
                        {
                            try
                            {
                                return (x.Name, Lease: await x.Consumer.Client.ClaimAsync(info), Error: (Exception?)null);
                            }
                            catch (StreamAlreadyClaimedException ex)
                            {
                                return (x.Name, Lease: (StreamLease?)null, Error: (Exception?)ex);
                            }
                        })
                        .ToArray();
                    var results = await Task.WhenAll(attempts);

                    var winners = results.Where(r => r.Lease is not null).ToArray();
                    var losers = results.Where(r => r.Error is not null).ToArray();
                    Assert.That(winners, Has.Length.EqualTo(1), $"round {round}, {id}: exactly one winner");
                    Assert.That(losers, Has.Length.EqualTo(1), $"round {round}, {id}: the other gets StreamAlreadyClaimedException");
                    Assert.That(((StreamAlreadyClaimedException)losers[0].Error!).OwnerConsumerId, Is.EqualTo(winners[0].Name));
                    Assert.That(winners[0].Lease!.Origin, Is.EqualTo(LeaseOrigin.Claimed));
                    wins[winners[0].Name]++;
                }
            }

            await TestContext.Out.WriteLineAsync($"Claim races won: left {wins["left"]}, right {wins["right"]} of {Rounds * StreamsPerRound}.");
            Assert.That(left.Owned.Count + right.Owned.Count, Is.EqualTo(Rounds * StreamsPerRound));
            Assert.That(left.Owned.Select(l => l.IdInLbs).Intersect(right.Owned.Select(l => l.IdInLbs)), Is.Empty);
        }
        finally
        {
            foreach (var (owner, _) in owners)
            {
                await owner.CrashAsync();
            }
        }
    }

    [Test]
    public async Task Ten_consumers_two_thousand_streams_two_crash_and_the_other_eight_own_every_stream_exactly_once()
    {
        const int Streams = 2000;
        var service = TestOptions.NewServiceName();
        var keys = StreamKeys.For(TestOptions.For(service));
        var db = Redis.GetDatabase();
        var consumers = new List<TestConsumer>();
        try
        {
            for (var i = 0; i < 10; i++)
            {
                var options = TestOptions.For(service, consumerId: $"worker-{i}", autoClaim: true, maxConcurrentStreams: 1000);
                // Failover alone: a rebalancing hand-over would also be a StreamDisowned among the survivors.
                options.Rebalance = false;
                consumers.Add(await TestConsumer.StartAsync(Redis, options));
            }

            var batch = db.CreateBatch();
            var adds = Enumerable.Range(0, Streams).Select(i => batch.StreamAddAsync(keys.Lbs, "lbs-input", $$"""{"DataStreamName":"s-{{i}}"}""")).ToArray();
            batch.Execute();
            var ids = (await Task.WhenAll(adds)).Select(id => (string)id!).ToHashSet();
            await Eventually.AssertAsync(() => consumers.Sum(c => c.Owned.Count) == Streams, TimeSpan.FromSeconds(30), "all streams are assigned");

            var crashed = consumers.OrderByDescending(c => c.Owned.Count).Take(2).ToArray();
            var survivors = consumers.Except(crashed).ToArray();
            var orphaned = crashed.Sum(c => c.Owned.Count);
            var leaseExpiry = crashed.SelectMany(c => c.Owned).Max(l => l.ExpiresAt);
            await Task.WhenAll(crashed.Select(c => c.CrashAsync()));

            await Eventually.AssertAsync(() => survivors.Sum(c => c.Owned.Count) == Streams, TimeSpan.FromSeconds(30), "the survivors own every stream");
            var claimedAt = DateTimeOffset.UtcNow;
            await TestContext.Out.WriteLineAsync($"Failover of {orphaned} streams from 2 crashed consumers to 8: {(claimedAt - leaseExpiry).TotalMilliseconds:0} ms after the last lease expiry.");
            await TestContext.Out.WriteLineAsync("Owned per survivor: " + string.Join(", ", survivors.Select(c => c.Owned.Count)));

            var owners = survivors.SelectMany(c => c.Owned.Select(l => (l.IdInLbs, c.Client.ConsumerId))).ToArray();
            Assert.That(owners.Select(o => o.IdInLbs).Distinct().Count(), Is.EqualTo(Streams), "each stream owned by exactly one survivor");
            Assert.That(owners.Select(o => o.IdInLbs).ToHashSet().SetEquals(ids), Is.True);

            // Redis agrees: every ownership record names a session of the survivor that holds it, and the PEL belongs to the survivors alone.
            var idList = owners.Select(o => o.IdInLbs).ToArray();
            var values = await db.HashGetAsync(keys.Owners, idList.Select(id => (RedisValue)id).ToArray());
            for (var i = 0; i < idList.Length; i++)
            {
                Assert.That(((string?)values[i])?.Split('|')[0], Is.EqualTo(owners[i].ConsumerId), idList[i]);
            }

            var pel = await db.StreamPendingAsync(keys.Lbs, keys.Group);
            Assert.That(pel.PendingMessageCount, Is.EqualTo(Streams));
            Assert.That(pel.Consumers.Where(c => c.PendingMessageCount > 0).Select(c => (string)c.Name!), Is.SubsetOf(survivors.Select(s => s.Client.ConsumerId)));
            Assert.That(survivors.SelectMany(s => s.Of(StreamNotificationType.StreamDisowned)), Is.Empty);
        }
        finally
        {
            foreach (var consumer in consumers)
            {
                await consumer.DisposeAsync();
            }
        }
    }

    [TestCase(KeyspaceNotificationsMode.Off)]
    [TestCase(KeyspaceNotificationsMode.VerifyOnly)]
    public async Task Failover_happens_without_keyspace_notifications(KeyspaceNotificationsMode mode)
    {
        await using var server = await RedisServer.StartAsync("--notify-keyspace-events", "");
        await using var redis = await server.ConnectAsync();
        var capture = new LogCapture();
        using var logs = capture.Factory;
        var service = TestOptions.NewServiceName();
        RecoverableStreamOptions Options(string id, bool autoClaim)
        {
            var options = TestOptions.For(service, consumerId: id, autoClaim: autoClaim);
            options.KeyspaceNotifications = mode;
            return options;
        }

        var owner = await TestConsumer.StartAsync(redis, Options("owner", autoClaim: false), logs);
        // A plain XADD: no publisher wake-up, no keyspace event; the reader finds it by polling.
        await redis.GetDatabase().StreamAddAsync(StreamKeys.For(Options("x", false)).Lbs, "lbs-input", """{"DataStreamName":"quiet"}""");
        await Eventually.AssertAsync(() => owner.Owned.Count == 1, TimeSpan.FromSeconds(10), "the entry is picked up by polling");
        await using var survivor = await TestConsumer.StartAsync(redis, Options("survivor", autoClaim: true), logs);
        var expiry = owner.Owned.Single().ExpiresAt;

        await owner.CrashAsync();

        await Eventually.AssertAsync(() => survivor.Owned.Count == 1, TimeSpan.FromSeconds(15), "the survivor claims the expired stream");
        await TestContext.Out.WriteLineAsync($"{mode}: failover {(DateTimeOffset.UtcNow - expiry).TotalMilliseconds:0} ms after lease expiry, without keyspace notifications.");
        Assert.That(survivor.Owned.Single().Origin, Is.EqualTo(LeaseOrigin.Claimed));
        Assert.That(survivor.Owned.Single().DataStreamName, Is.EqualTo("quiet"));
        var flags = (await redis.GetServers()[0].ConfigGetAsync("notify-keyspace-events")).Single().Value;
        Assert.That(flags, Is.Empty, "the client never changed notify-keyspace-events");
        if (mode == KeyspaceNotificationsMode.VerifyOnly)
        {
            Assert.That(capture.WithEventId(103), Is.Not.Empty, "VerifyOnly warns that the flags are missing");
        }
    }

    [Test]
    public async Task A_new_consumer_never_takes_a_stream_whose_owner_is_alive()
    {
        var service = TestOptions.NewServiceName();
        var lease = TimeSpan.FromSeconds(2);
        await using var owner = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "owner", lease: lease));
        var id = await new StreamPublisher(Redis, TestOptions.For(service)).AddStreamAsync("long-running");
        await Eventually.AssertAsync(() => owner.Owned.Count == 1, TimeSpan.FromSeconds(10), "the owner takes the stream");
        var held = owner.Owned.Single();
        var firstExpiry = held.ExpiresAt;
        await using var newcomer = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "newcomer", lease: lease, autoClaim: true));

        // Held for several lease durations: the renewals moved the deadline at least three lease durations on.
        await Eventually.AssertAsync(() => held.ExpiresAt >= firstExpiry + (3 * lease), TimeSpan.FromSeconds(30), "the owner keeps renewing");

        Assert.That(newcomer.Notifications, Is.Empty);
        Assert.That(newcomer.Owned, Is.Empty);
        Assert.That(held.IsOwned, Is.True);
        Assert.That(held.OwnershipLost.IsCancellationRequested, Is.False);
        Assert.That(owner.Of(StreamNotificationType.StreamDisowned), Is.Empty);
        var keys = StreamKeys.For(TestOptions.For(service));
        Assert.That(((string?)await Redis.GetDatabase().HashGetAsync(keys.Owners, id))?.Split('|')[0], Is.EqualTo("owner"));

        // The newcomer was able to claim all along: once the owner is gone, it does.
        await owner.CrashAsync();
        await Eventually.AssertAsync(() => newcomer.Owned.Count == 1, TimeSpan.FromSeconds(15), "the newcomer claims the stream once its owner is dead");
    }
}
