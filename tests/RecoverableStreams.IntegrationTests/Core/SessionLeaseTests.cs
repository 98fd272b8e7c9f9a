using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>
/// The session model end to end (docs/ARCHITECTURE.md): renewal costs the same whatever a consumer owns, a dead session
/// frees every stream at once and survivors take them in bounded batches, a dead session never comes back, a consumer
/// stops writing at its local deadline, and a handover never has two owners.
/// </summary>
[Parallelizable(ParallelScope.Self)]
public sealed class SessionLeaseTests : SharedRedisTest
{
    private const int ClaimedEventId = 301;
    private const int ReconciledEventId = 302;
    private const int UnknownGrantsReleasedEventId = 360;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>Connection upkeep that is not the library's work.</summary>
    private static readonly HashSet<string> Housekeeping = new(StringComparer.Ordinal) { "info", "ping", "echo", "client", "config", "subscribe", "psubscribe", "unsubscribe", "punsubscribe", "cluster", "hello", "select" };

    [TestCase(1)]
    [TestCase(1_000)]
    public async Task Renewal_is_one_script_call_with_five_commands_whatever_the_consumer_owns(int owned)
    {
        // A private server: its command statistics are this test's alone.
        await using var server = await RedisServer.StartAsync("--loglevel", "warning");
        await using var redis = await server.ConnectAsync();
        var options = TestOptions.For(lease: TimeSpan.FromMilliseconds(1500), maxConcurrentStreams: owned);
        options.ReconcileInterval = TimeSpan.FromHours(1);
        var logs = new LogCapture();
        await using var consumer = await TestConsumer.StartAsync(redis, options, logs.Factory);
        var publisher = new StreamPublisher(redis, options);
        for (var i = 0; i < owned; i++)
        {
            await publisher.AddStreamAsync("renewed-" + i);
        }

        // Full (no free slot): the reader and the scheduler stay idle, so only upkeep remains.
        await Eventually.AssertAsync(() => consumer.Owned.Count == owned, Deadline, $"the consumer owns {owned} streams");
        await Eventually.AssertAsync(() => logs.WithEventId(ReconciledEventId).Count > 0, Deadline, "the start-up reconciliation is over");
        await redis.GetServers()[0].ExecuteAsync("CONFIG", "RESETSTAT");
        await Eventually.AssertAsync(async () => (await CommandStatsAsync(redis)).GetValueOrDefault("zadd") >= 4, Deadline, "four renewals");

        var stats = (await CommandStatsAsync(redis)).Where(s => !Housekeeping.Contains(s.Key)).ToDictionary();
        var renewals = stats["zadd"];
        await TestContext.Out.WriteLineAsync($"{owned} owned, {renewals} renewals: " + string.Join(", ", stats.Select(s => $"{s.Key}={s.Value}")));
        Assert.Multiple(() =>
        {
            // Each renewal is EVALSHA renew.lua = TIME + ZSCORE + ZADD on the sessions key + HGET of the session's own
            // count (to find lost grants); the announce sweep (AutoClaim off, every SweepInterval) reads the sessions and
            // free-now indexes (ZRANGEBYSCORE, ZRANGE). Nothing per stream.
            Assert.That(stats.Keys, Is.SubsetOf(new[] { "evalsha", "eval", "time", "zscore", "zadd", "hget", "zrange", "zrangebyscore" }), "no command touches a stream's keys");
            Assert.That(stats.GetValueOrDefault("hget"), Is.InRange(renewals - 1, renewals + 1), "one count read per renewal");
            var sweeps = stats.GetValueOrDefault("zrange");
            Assert.That(stats.GetValueOrDefault("evalsha") + stats.GetValueOrDefault("eval") - sweeps, Is.InRange(renewals - 1, renewals + 1), "one script call per renewal");
            Assert.That(stats.GetValueOrDefault("zscore"), Is.InRange(renewals - 1, renewals + 1));
            Assert.That(stats.Values.Sum(), Is.LessThanOrEqualTo(6 * (renewals + sweeps) + 6), "a handful of commands per round, whatever is owned");
            Assert.That(consumer.Owned, Has.Count.EqualTo(owned), "nothing was lost");
        });
    }

    [Test]
    public async Task The_repair_of_lost_grants_releases_its_own_and_never_a_stream_whose_record_now_names_a_live_peer()
    {
        // Seed 6 of the randomized checker (Sentinel): the repair read its session's index members, a hand-over then
        // released one of them and a peer claimed it, and the repair's second read found the peer's record under its own
        // member. release.lua freed it with that exact value, and a third consumer was granted the stream while the peer
        // ran on. Here the same index state is set up at once: a member of the consumer's session whose record names a
        // live peer, and one real lost grant (its record names the consumer's session) so the repair is seen to run.
        var options = TestOptions.For(consumerId: "repairer", lease: TimeSpan.FromSeconds(2), maxConcurrentStreams: 1);
        options.ReconcileInterval = TimeSpan.FromHours(1);
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        var scripts = new StreamScripts(db, keys);
        var publisher = new StreamPublisher(Redis, options);
        await scripts.OpenSessionAsync("peer|1", TimeSpan.FromSeconds(60));
        await publisher.AddStreamAsync("peer-owned");
        var peerEntry = (await scripts.ReadAndAcquireAsync("peer", "peer|1", 1, 1000)).Entries.Single();
        var peerRecord = "peer|1|" + peerEntry.FencingToken;

        var logs = new LogCapture();
        await using var consumer = await TestConsumer.StartAsync(Redis, options, logs.Factory);
        await publisher.AddStreamAsync("consumer-owned");
        await Eventually.AssertAsync(() => consumer.Owned.Count == 1, Deadline, "the consumer owns one stream and is full");
        var session = consumer.Owned[0].Session.Id;

        // Full, so its reader reads nothing more: the next grant to its session is one whose reply it never saw.
        await publisher.AddStreamAsync("lost-grant");
        var lost = (await scripts.ReadAndAcquireAsync("repairer", session, 1, 1000)).Entries.Single();
        await db.SortedSetAddAsync(keys.Owned, session + "\0" + peerEntry.Id, 0);
        await db.HashIncrementAsync(keys.Counts, session);

        await Eventually.AssertAsync(() => logs.WithEventId(UnknownGrantsReleasedEventId).Count > 0, Deadline, "a renewal found more in Redis than the consumer holds and the repair ran");
        Assert.Multiple(async () =>
        {
            Assert.That(await db.HashExistsAsync(keys.Owners, lost.Id), Is.False, "the real lost grant was released");
            Assert.That((string?)await db.HashGetAsync(keys.Owners, peerEntry.Id), Is.EqualTo(peerRecord), "the peer's record stays");
            Assert.That(await db.SortedSetScoreAsync(keys.Free, peerEntry.Id), Is.Null, "the peer's stream was not freed for others");
            Assert.That(logs.WithEventId(UnknownGrantsReleasedEventId).Single().Message, Does.Contain("released 1 stream(s)"));
        });
    }

    [Test]
    public async Task A_dead_session_frees_every_stream_at_once_and_a_survivor_takes_them_in_batches_of_at_most_a_thousand()
    {
        const int Streams = 2_500;
        var service = TestOptions.NewServiceName();
        var keys = StreamKeys.For(TestOptions.For(service));
        var db = Redis.GetDatabase();
        var ownerOptions = TestOptions.For(service, consumerId: "owner", lease: TimeSpan.FromSeconds(3), maxConcurrentStreams: Streams);
        ownerOptions.ReconcileInterval = TimeSpan.FromHours(1);
        var owner = await TestConsumer.StartAsync(Redis, ownerOptions);
        var batch = db.CreateBatch();
        var adds = Enumerable.Range(0, Streams).Select(i => batch.StreamAddAsync(keys.Lbs, "lbs-input", $$"""{"DataStreamName":"bulk-{{i}}"}""")).ToArray();
        batch.Execute();
        var ids = (await Task.WhenAll(adds)).Select(id => (string)id!).ToHashSet(StringComparer.Ordinal);
        await Eventually.AssertAsync(() => owner.Owned.Count == Streams, Deadline, "the owner owns every stream");
        var deadSession = owner.Owned[0].Session.Id;
        Assert.That(await db.HashGetAsync(keys.Counts, deadSession), Is.EqualTo((RedisValue)Streams));

        var logs = new LogCapture();
        var survivorOptions = TestOptions.For(service, consumerId: "survivor", lease: TimeSpan.FromSeconds(3), autoClaim: true, maxConcurrentStreams: Streams);
        survivorOptions.ReconcileInterval = TimeSpan.FromHours(1);
        await using var survivor = await TestConsumer.StartAsync(Redis, survivorOptions, logs.Factory);
        await owner.CrashAsync();

        await Eventually.AssertAsync(() => survivor.Owned.Count == Streams, Deadline, "the survivor owns every stream");
        var claimed = logs.WithEventId(ClaimedEventId).Select(r => Convert.ToInt32(r.Values["Count"], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var survivorSession = survivor.Owned[0].Session.Id;
        Assert.Multiple(async () =>
        {
            Assert.That(survivor.Owned.Select(l => l.IdInLbs).ToHashSet().SetEquals(ids), Is.True, "exactly the dead session's streams");
            Assert.That(claimed.Sum(), Is.EqualTo(Streams));
            Assert.That(claimed, Has.All.LessThanOrEqualTo(1_000), "no claim call took more than 1,000");
            Assert.That(claimed, Has.Length.GreaterThanOrEqualTo(3));
            Assert.That(await db.SortedSetScoreAsync(keys.Sessions, deadSession), Is.Null, "the dead session is gone");
            Assert.That(await db.HashExistsAsync(keys.Counts, deadSession), Is.False);
            Assert.That(await Ownership.OwnedByAsync(db, keys, deadSession), Is.Empty, "its index members moved");
            Assert.That((long)await db.HashGetAsync(keys.Counts, survivorSession), Is.EqualTo(Streams));
            Assert.That(await db.SortedSetLengthAsync(keys.Owned), Is.EqualTo(Streams), "one index member per stream");
            Assert.That(await db.HashLengthAsync(keys.Owners), Is.EqualTo(Streams), "one record per stream");
            Assert.That(survivor.Owned.Select(l => l.Origin), Has.All.EqualTo(LeaseOrigin.Claimed));
        });
    }

    [Test]
    public async Task A_session_that_died_in_redis_stays_dead_its_consumer_loses_everything_opens_a_new_session_and_its_late_writes_are_refused()
    {
        var service = TestOptions.NewServiceName();
        var keys = StreamKeys.For(TestOptions.For(service));
        var db = Redis.GetDatabase();
        await using var frozen = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "frozen", lease: TimeSpan.FromSeconds(4)));
        var publisher = new StreamPublisher(Redis, TestOptions.For(service));
        var ids = new[] { await publisher.AddStreamAsync("f-1"), await publisher.AddStreamAsync("f-2"), await publisher.AddStreamAsync("f-3") };
        await Eventually.AssertAsync(() => frozen.Owned.Count == 3, Deadline, "the consumer owns three streams");
        var leases = frozen.Owned.ToArray();
        var oldSession = leases[0].Session.Id;

        // From Redis' side the consumer was frozen past its deadline: the session is dead.
        await Ownership.KillSessionAsync(db, keys, oldSession);
        await using var peer = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "peer", lease: TimeSpan.FromSeconds(4), autoClaim: true));

        await Eventually.AssertAsync(() => leases.All(l => l.OwnershipLost.IsCancellationRequested), Deadline, "every lease of the dead session is lost");
        await Eventually.AssertAsync(() => peer.Owned.Count == 3, Deadline, "the peer takes every stream");
        var late = Assert.ThrowsAsync<StreamOwnershipLostException>(() => leases[0].CheckpointAsync("9-9"));
        Assert.Multiple(async () =>
        {
            Assert.That(late, Is.Not.Null, "a late write is refused");
            Assert.That(frozen.Of(StreamNotificationType.StreamDisowned).Select(n => n.Payload.IdInLbs), Is.EquivalentTo(ids));
            Assert.That(frozen.Client.OwnedStreams, Is.Empty);
            Assert.That(await db.KeyExistsAsync(keys.Checkpoint(ids[0])), Is.False, "nothing was written");
            Assert.That(await db.SortedSetScoreAsync(keys.Sessions, oldSession), Is.Null.Or.LessThanOrEqualTo(await Ownership.ServerNowMsAsync(db)), "the old session never came back");
            foreach (var id in ids)
            {
                Assert.That(await Ownership.RecordAsync(db, keys, id), Does.StartWith("peer|"));
            }
        });

        // The consumer carries on with a new session: it takes new work.
        var fresh = await publisher.AddStreamAsync("f-4");
        await Eventually.AssertAsync(() => frozen.Owned.Any(l => l.IdInLbs == fresh) || peer.Owned.Any(l => l.IdInLbs == fresh), Deadline, "new work is owned");
        var newSessions = (await db.SortedSetRangeByRankAsync(keys.Sessions)).Select(s => (string)s!).Where(s => s.StartsWith("frozen|", StringComparison.Ordinal)).ToArray();
        Assert.That(newSessions, Has.Length.EqualTo(1).And.None.EqualTo(oldSession), "a new session id");
    }

    [Test]
    public async Task A_consumer_whose_clock_jumped_past_its_local_deadline_stops_writing_even_though_redis_still_holds_its_session()
    {
        var service = TestOptions.NewServiceName();
        var keys = StreamKeys.For(TestOptions.For(service));
        var db = Redis.GetDatabase();
        var clock = new JumpingClock();
        var lease = TimeSpan.FromSeconds(20);
        await using var consumer = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "paused", lease: lease), timeProvider: clock);
        var id = await new StreamPublisher(Redis, TestOptions.For(service)).AddStreamAsync("paused-stream");
        await Eventually.AssertAsync(() => consumer.Owned.Count == 1, Deadline, "the consumer owns the stream");
        var owned = consumer.Owned[0];
        var redisDeadline = await Ownership.DeadlineAsync(db, keys, owned.Session.Id);

        // The process was paused longer than a lease (the monotonic clock jumped); Redis has not seen time pass.
        clock.Jump(lease + TimeSpan.FromSeconds(1));

        Assert.ThrowsAsync<StreamOwnershipLostException>(() => owned.CheckpointAsync("1-1"));
        var serverNow = await Ownership.ServerNowMsAsync(db);
        Assert.Multiple(async () =>
        {
            Assert.That(owned.IsOwned, Is.False);
            Assert.That(owned.OwnershipLost.IsCancellationRequested, Is.True);
            Assert.That(await db.KeyExistsAsync(keys.Checkpoint(id)), Is.False, "the write never reached Redis");
            Assert.That(redisDeadline, Is.GreaterThan(serverNow), "Redis still counted the session live: the client stopped on its own deadline");
        });
    }

    /// <summary>
    /// Found by the randomized checker (seed 1, docs/RELIABILITY.md): a handler that resumed after a SIGSTOP longer
    /// than its lease read IsOwned == true for tens of milliseconds while a peer already owned (and had completed) the
    /// stream, because IsOwned only flipped when the renewal loop next ran. IsOwned must be bounded by the local
    /// deadline itself, at the moment it is read.
    /// </summary>
    [Test]
    public async Task IsOwned_is_false_as_soon_as_the_local_deadline_has_passed_before_the_renewal_loop_runs_again()
    {
        var service = TestOptions.NewServiceName();
        var clock = new JumpingClock();
        var lease = TimeSpan.FromSeconds(20);
        await using var consumer = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "resumed", lease: lease), timeProvider: clock);
        await new StreamPublisher(Redis, TestOptions.For(service)).AddStreamAsync("resumed-stream");
        await Eventually.AssertAsync(() => consumer.Owned.Count == 1, Deadline, "the consumer owns the stream");
        var owned = consumer.Owned[0];
        Assert.That(owned.IsOwned, Is.True);

        // The process resumes after a pause longer than a lease: the renewal loop sleeps on (its next step is a
        // fifth of the lease away), and no call was made; the handler's first read must already say "not owned".
        clock.Jump(lease + TimeSpan.FromSeconds(1));

        Assert.That(owned.IsOwned, Is.False, "IsOwned read after the local deadline passed");
    }

    [Test]
    public async Task A_graceful_handover_releases_before_the_newcomer_is_granted_and_the_old_owners_late_writes_are_refused()
    {
        const int Streams = 50;
        var service = TestOptions.NewServiceName();
        var keys = StreamKeys.For(TestOptions.For(service));
        var db = Redis.GetDatabase();
        var leaving = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "leaving", lease: TimeSpan.FromSeconds(30), maxConcurrentStreams: Streams));
        var publisher = new StreamPublisher(Redis, TestOptions.For(service));
        for (var i = 0; i < Streams; i++)
        {
            await publisher.AddStreamAsync("h-" + i);
        }

        await Eventually.AssertAsync(() => leaving.Owned.Count == Streams, Deadline, "the leaving consumer owns every stream");
        var old = leaving.Owned.ToDictionary(l => l.IdInLbs);
        var leavingSession = old.Values.First().Session.Id;

        // When the newcomer is granted a stream, the leaving owner must already have stopped: its lease ended locally
        // (IsOwned false, OwnershipLost fired), so its handler and its writes stopped before the newcomer's start. This
        // is the moment two owners would overlap if the hand-over granted first and released after; the probe's
        // self-test below shows it reports such a grant. (A write of the old owner probed at this moment would prove
        // nothing: the record already names the newcomer, so the script refuses it whatever happened before.)
        var overlaps = new System.Collections.Concurrent.ConcurrentBag<string>();
        var checkedGrants = 0;
        await using var newcomer = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "newcomer", lease: TimeSpan.FromSeconds(30), autoClaim: true, maxConcurrentStreams: Streams), onNotification: n =>
        {
            if (n.Type == StreamNotificationType.StreamAdded && old.TryGetValue(n.Payload.IdInLbs, out var before))
            {
                if (StillOwned(before))
                {
                    overlaps.Add($"{n.Payload.IdInLbs}: token {n.Lease!.FencingToken} granted while token {before.FencingToken} was still owned");
                }

                Interlocked.Increment(ref checkedGrants);
            }

            return Task.CompletedTask;
        });
        await leaving.Client.DoneAsync();

        await Eventually.AssertAsync(() => newcomer.Owned.Count == Streams, Deadline, "the newcomer owns every stream");
        await Eventually.AssertAsync(() => Volatile.Read(ref checkedGrants) == Streams, Deadline, "every grant was checked");
        var stale = old.Values.First();
        Assert.ThrowsAsync<StreamOwnershipLostException>(() => stale.CheckpointAsync("1-1"));
        Assert.Multiple(async () =>
        {
            Assert.That(overlaps, Is.Empty, "the leaving owner had stopped when the newcomer was granted");
            Assert.That(newcomer.Owned.All(l => l.FencingToken > old[l.IdInLbs].FencingToken), Is.True, "every new token is larger");
            Assert.That(old.Values.All(l => !l.IsOwned), Is.True);
            Assert.That(await db.SortedSetScoreAsync(keys.Sessions, leavingSession), Is.Null, "the leaving session closed");
            Assert.That(await db.HashExistsAsync(keys.Counts, leavingSession), Is.False);
            Assert.That(await db.SortedSetLengthAsync(keys.Free), Is.Zero);
            Assert.That(await db.KeyExistsAsync(keys.Checkpoint(stale.IdInLbs)), Is.False, "the late checkpoint was refused");
        });
    }

    /// <summary>
    /// The hand-over probe can fail: a grant written over a live owner's record (what a hand-over that granted before
    /// releasing would do) finds the old lease still owned at that moment.
    /// </summary>
    [Test]
    public async Task The_hand_over_overlap_probe_reports_a_grant_over_a_live_owner()
    {
        var service = TestOptions.NewServiceName();
        var keys = StreamKeys.For(TestOptions.For(service));
        var db = Redis.GetDatabase();
        await using var owner = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "owner", lease: TimeSpan.FromSeconds(30)));
        var id = await new StreamPublisher(Redis, TestOptions.For(service)).AddStreamAsync("probe-stream");
        await Eventually.AssertAsync(() => owner.Owned.Count == 1, Deadline, "the owner owns the stream");
        var before = owner.Owned[0];

        // Broken hand-over: the newcomer's record replaces the live owner's without a release.
        await db.HashSetAsync(keys.Owners, id, $"intruder|s|{before.FencingToken + 1}");

        Assert.That(StillOwned(before), Is.True, "at the intruder's grant the old owner still owns the stream: the probe reports an overlap");
    }

    /// <summary>The hand-over probe: the old lease has not ended locally (its handler may still run and write).</summary>
    private static bool StillOwned(StreamLease lease) => lease.IsOwned || !lease.OwnershipLost.IsCancellationRequested;

    private static async Task<Dictionary<string, long>> CommandStatsAsync(ConnectionMultiplexer redis)
    {
        var info = (string)(await redis.GetServers()[0].ExecuteAsync("INFO", "commandstats"))!;
        var stats = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in info.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("cmdstat_", StringComparison.Ordinal)))
        {
            var name = line["cmdstat_".Length..line.IndexOf(':', StringComparison.Ordinal)];
            var calls = line.Split(':', 2)[1].Split(',').First(p => p.StartsWith("calls=", StringComparison.Ordinal));
            stats[name.Split('|')[0]] = stats.GetValueOrDefault(name.Split('|')[0]) + long.Parse(calls["calls=".Length..], System.Globalization.CultureInfo.InvariantCulture);
        }

        return stats;
    }

    /// <summary>The system clock, whose monotonic timestamp can jump forward (a paused process, seen from inside).</summary>
    private sealed class JumpingClock : TimeProvider
    {
        private long _offset;

        public void Jump(TimeSpan by) => Interlocked.Add(ref _offset, (long)(by.TotalSeconds * TimestampFrequency));

        public override long GetTimestamp() => TimeProvider.System.GetTimestamp() + Interlocked.Read(ref _offset);
    }
}
