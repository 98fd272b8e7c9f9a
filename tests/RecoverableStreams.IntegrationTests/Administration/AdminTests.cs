using RecoverableStreams.Administration;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Administration;

public sealed class AdminTests : SharedRedisTest
{
    [Test]
    public async Task Status_reports_lbs_length_lag_pending_dead_letters_and_each_consumers_heartbeat_age()
    {
        var options = TestOptions.For(maxConcurrentStreams: 2);
        var keys = StreamKeys.For(options);
        var admin = new RecoverableStreamsAdmin(Redis, options);
        var publisher = new StreamPublisher(Redis, options);
        await using var consumer = await TestConsumer.StartAsync(Redis, options);

        // A malformed entry is dead-lettered by the consumer; then five streams, of which it can hold only two.
        await Redis.GetDatabase().StreamAddAsync(keys.Lbs, "not-lbs-input", "x");
        await Eventually.AssertAsync(async () => await Redis.GetDatabase().StreamLengthAsync(keys.Dead) == 1, TimeSpan.FromSeconds(10), "the malformed entry is dead-lettered");
        for (var i = 0; i < 5; i++)
        {
            await publisher.AddStreamAsync($"s-{i}");
        }

        await Eventually.AssertAsync(() => consumer.Owned.Count == 2, TimeSpan.FromSeconds(10), "the consumer fills its two slots");
        var status = await admin.GetStatusAsync();

        Assert.That(status.ServiceName, Is.EqualTo(options.ServiceName));
        Assert.That(status.LbsStreamKey, Is.EqualTo(keys.Lbs));
        Assert.That(status.ConsumerGroup, Is.EqualTo(keys.Group));
        Assert.That(status.EntriesInLbs, Is.EqualTo(5));
        Assert.That(status.Lag, Is.EqualTo(3), "three entries were never delivered");
        Assert.That(status.Pending, Is.EqualTo(2));
        Assert.That(status.Owned, Is.EqualTo(2));
        Assert.That(status.DeadLetters, Is.EqualTo(1));
        var me = status.Consumers.Single();
        Assert.That(me.ConsumerId, Is.EqualTo(options.ConsumerId));
        Assert.That(me.SessionId, Is.Not.Empty);
        Assert.That(me.OwnedStreams, Is.EqualTo(2));
        // Renewed every LeaseDuration / 5 or so: the age stays well under a lease while the consumer runs.
        Assert.That(me.HeartbeatAge, Is.LessThan(options.LeaseDuration * 2));
        Assert.That(me.IsLive, Is.True);
        Assert.That(me.SessionDeadline, Is.GreaterThan(status.ServerTime));

        // A crashed consumer stops renewing: its heartbeat ages past a lease.
        await consumer.CrashAsync();
        await Eventually.AssertAsync(async () => (await admin.GetStatusAsync()).Consumers.Single() is { IsLive: false } c && c.HeartbeatAge > options.LeaseDuration, TimeSpan.FromSeconds(15), "the crashed consumer's session dies and its heartbeat ages");
    }

    [Test]
    public async Task Status_of_a_service_nothing_was_announced_to_is_empty_not_an_error()
    {
        var status = await new RecoverableStreamsAdmin(Redis, TestOptions.For()).GetStatusAsync();

        Assert.That(status.EntriesInLbs, Is.Zero);
        Assert.That(status.Lag, Is.Null);
        Assert.That(status.Pending, Is.Zero);
        Assert.That(status.Owned, Is.Zero);
        Assert.That(status.DeadLetters, Is.Zero);
        Assert.That(status.Consumers, Is.Empty);
    }

    [Test]
    public async Task Owners_name_each_streams_consumer_session_fencing_token_and_deadline()
    {
        var service = TestOptions.NewServiceName();
        var publisher = new StreamPublisher(Redis, TestOptions.For(service));
        var admin = new RecoverableStreamsAdmin(Redis, TestOptions.For(service));
        await using var first = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "first", maxConcurrentStreams: 2));
        for (var i = 0; i < 2; i++)
        {
            await publisher.AddStreamAsync($"stream-{i}");
        }

        await Eventually.AssertAsync(() => first.Owned.Count == 2, TimeSpan.FromSeconds(10), "the first consumer owns two streams");
        await using var second = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "second"));
        await publisher.AddStreamAsync("stream-2");
        await Eventually.AssertAsync(() => second.Owned.Count == 1, TimeSpan.FromSeconds(10), "the second consumer owns the third stream");

        var owners = await admin.GetOwnersAsync();
        var status = await admin.GetStatusAsync();

        Assert.That(owners.Select(o => o.DataStreamName), Is.EqualTo(new[] { "stream-0", "stream-1", "stream-2" }));
        foreach (var lease in first.Owned.Concat(second.Owned))
        {
            var owner = owners.Single(o => o.IdInLbs == lease.IdInLbs);
            Assert.That(owner.DataStreamName, Is.EqualTo(lease.DataStreamName));
            Assert.That(owner.ConsumerId, Is.EqualTo(lease.ConsumerId));
            Assert.That(owner.FencingToken, Is.EqualTo(lease.FencingToken));
            Assert.That(owner.Deadline, Is.GreaterThan(status.ServerTime - TimeSpan.FromSeconds(1)));
            Assert.That(owner.Deadline, Is.LessThanOrEqualTo(status.ServerTime + TimeSpan.FromSeconds(2) + TimeSpan.FromSeconds(1)));
        }

        Assert.That(owners.Where(o => o.ConsumerId == "first").Select(o => o.SessionId).Distinct().Count(), Is.EqualTo(1), "one session per process");
        Assert.That(owners.Select(o => o.SessionId).Distinct().Count(), Is.EqualTo(2), "two processes, two sessions");
        Assert.That(status.Consumers.Single(c => c.ConsumerId == "first").OwnedStreams, Is.EqualTo(2));
        Assert.That(status.Consumers.Single(c => c.ConsumerId == "second").OwnedStreams, Is.EqualTo(1));
    }

    [Test]
    public async Task Dead_letters_are_listed_in_pages_replayed_as_new_announcements_and_purged()
    {
        var options = TestOptions.For();
        var keys = StreamKeys.For(options);
        var admin = new RecoverableStreamsAdmin(Redis, options);
        var publisher = new StreamPublisher(Redis, options);
        await using var consumer = await TestConsumer.StartAsync(Redis, options);
        var originalIds = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            originalIds.Add(await publisher.AddStreamAsync($"poison-{i}", new Dictionary<string, object?> { ["i"] = i }));
        }

        await Eventually.AssertAsync(() => consumer.Owned.Count == 3, TimeSpan.FromSeconds(10), "the consumer owns the three streams");
        foreach (var lease in consumer.Owned.OrderBy(l => l.DataStreamName, StringComparer.Ordinal))
        {
            await lease.DeadLetterAsync("handler gave up on " + lease.DataStreamName);
        }

        var first = await admin.GetDeadLettersAsync(count: 2);
        var second = await admin.GetDeadLettersAsync(first.Next, count: 2);

        Assert.That(first.Items, Has.Count.EqualTo(2));
        Assert.That(first.Next, Is.Not.Null);
        Assert.That(second.Items, Has.Count.EqualTo(1));
        Assert.That(second.Next, Is.Null);
        var letters = first.Items.Concat(second.Items).ToArray();
        Assert.That(letters.Select(l => l.DataStreamName), Is.EqualTo(new[] { "poison-0", "poison-1", "poison-2" }));
        Assert.That(letters.Select(l => l.IdInLbs), Is.EqualTo(originalIds));
        Assert.That(letters.Select(l => l.Reason), Is.EqualTo(new[] { "handler gave up on poison-0", "handler gave up on poison-1", "handler gave up on poison-2" }));
        Assert.That(letters.Select(l => l.ConsumerId), Is.All.EqualTo(options.ConsumerId));
        Assert.That(letters[0].OriginalFields.Keys, Is.EqualTo(new[] { LbsInputMessage.FieldName }));
        Assert.That(letters[0].Time, Is.GreaterThan(DateTimeOffset.UnixEpoch));

        // Replay: a new LBS entry with the original fields, delivered to the consumer again; the dead letter is gone.
        var replay = await admin.ReplayDeadLetterAsync(letters[1].Id);

        Assert.That(replay.Outcome, Is.EqualTo(DeadLetterReplayOutcome.Replayed));
        Assert.That(replay.NewIdInLbs, Is.Not.EqualTo(letters[1].IdInLbs));
        var entry = (await Redis.GetDatabase().StreamRangeAsync(keys.Lbs, replay.NewIdInLbs, replay.NewIdInLbs)).Single();
        Assert.That((string?)entry[LbsInputMessage.FieldName], Is.EqualTo(letters[1].OriginalFields[LbsInputMessage.FieldName]));
        await Eventually.AssertAsync(() => consumer.Of(StreamNotificationType.StreamAdded).Any(n => n.Payload.IdInLbs == replay.NewIdInLbs), TimeSpan.FromSeconds(10), "the replayed stream is delivered again");
        var redelivered = consumer.Of(StreamNotificationType.StreamAdded).Single(n => n.Payload.IdInLbs == replay.NewIdInLbs);
        Assert.That(redelivered.Payload.DataStreamName, Is.EqualTo("poison-1"));
        Assert.That(redelivered.AdditionalInfo!["i"].GetInt32(), Is.EqualTo(1));
        Assert.That((await admin.GetDeadLettersAsync()).Items.Select(l => l.Id), Is.EqualTo(new[] { letters[0].Id, letters[2].Id }));
        Assert.That((await admin.ReplayDeadLetterAsync(letters[1].Id)).Outcome, Is.EqualTo(DeadLetterReplayOutcome.NotFound), "a replayed dead letter cannot be replayed twice");

        // Purge one, then the rest.
        Assert.That(await admin.PurgeDeadLettersAsync([letters[0].Id, "1-1"]), Is.EqualTo(1));
        Assert.That((await admin.GetDeadLettersAsync()).Items.Select(l => l.Id), Is.EqualTo(new[] { letters[2].Id }));
        Assert.That(await admin.PurgeAllDeadLettersAsync(), Is.EqualTo(1));
        Assert.That((await admin.GetStatusAsync()).DeadLetters, Is.Zero);
        Assert.That(await admin.PurgeAllDeadLettersAsync(), Is.Zero);
    }

    [Test]
    public async Task A_dead_letter_without_original_fields_is_kept_on_replay()
    {
        var options = TestOptions.For();
        var keys = StreamKeys.For(options);
        var admin = new RecoverableStreamsAdmin(Redis, options);
        var id = (string)(await Redis.GetDatabase().StreamAddAsync(keys.Dead, [new("lbs-id", "1-0"), new("reason", "entry gone")]))!;

        var replay = await admin.ReplayDeadLetterAsync(id);

        Assert.That(replay.Outcome, Is.EqualTo(DeadLetterReplayOutcome.NoOriginalFields));
        Assert.That(await Redis.GetDatabase().StreamLengthAsync(keys.Dead), Is.EqualTo(1));
        Assert.That(await Redis.GetDatabase().KeyExistsAsync(keys.Lbs), Is.False, "nothing was announced");
    }

    [Test]
    public async Task A_dead_letter_whose_stream_was_announced_again_is_kept_on_replay_not_announced_twice()
    {
        var options = TestOptions.For();
        var keys = StreamKeys.For(options);
        var admin = new RecoverableStreamsAdmin(Redis, options);
        var publisher = new StreamPublisher(Redis, options);
        await using (var consumer = await TestConsumer.StartAsync(Redis, options))
        {
            await publisher.AddStreamAsync("twice");
            await Eventually.AssertAsync(() => consumer.Owned.Count == 1, TimeSpan.FromSeconds(10), "the consumer owns the stream");
            await consumer.Owned.Single().DeadLetterAsync("gave up");
        }

        var letter = (await admin.GetDeadLettersAsync()).Items.Single();
        var live = await publisher.AddStreamAsync("twice");

        var replay = await admin.ReplayDeadLetterAsync(letter.Id);

        Assert.That(replay.Outcome, Is.EqualTo(DeadLetterReplayOutcome.AlreadyAnnounced));
        Assert.That(replay.NewIdInLbs, Is.EqualTo(live));
        Assert.That(await Redis.GetDatabase().StreamLengthAsync(keys.Lbs), Is.EqualTo(1), "nothing new was announced");
        Assert.That((await admin.GetDeadLettersAsync()).Items.Single().Id, Is.EqualTo(letter.Id), "the dead letter is kept");
    }

    [Test]
    public async Task A_partitioned_service_is_reported_whole_owners_dead_letters_and_releases_across_its_partitions()
    {
        // Replaces the test that expected Partitions > 1 to be refused: the operator API now serves any partition count.
        var options = TestOptions.For(consumerId: "parted", maxConcurrentStreams: 100);
        options.Partitions = 4;
        var admin = new RecoverableStreamsAdmin(Redis, options);
        await using var consumer = await TestConsumer.StartAsync(Redis, options);
        var publisher = new StreamPublisher(Redis, options);
        var names = Enumerable.Range(0, 12).Select(i => $"p-{i}").ToArray();
        foreach (var name in names)
        {
            await publisher.AddStreamAsync(name);
        }

        await Eventually.AssertAsync(() => consumer.Owned.Count == names.Length, TimeSpan.FromSeconds(15), "the consumer owns all twelve streams");
        var partitionsUsed = names.Select(n => PartitionLayout.PartitionOf(n, 4)).Distinct().Count();
        Assert.That(partitionsUsed, Is.GreaterThan(1), "the names spread over several partitions");

        var status = await admin.GetStatusAsync();
        Assert.That((status.Partitions, status.EntriesInLbs, status.Owned, status.Pending, status.Lag), Is.EqualTo((4, 12L, 12L, 12L, (long?)0)));
        Assert.That(status.Consumers.Single().OwnedStreams, Is.EqualTo(12), "one consumer, its streams summed over the partitions");

        var owners = await admin.GetOwnersAsync();
        Assert.That(owners.Select(o => o.IdInLbs), Is.EquivalentTo(consumer.Owned.Select(l => l.IdInLbs)), "owners carry the applications' partition ids");
        var page = await admin.GetOwnerPageAsync(5);
        Assert.That((page.Items.Count, page.Total, page.More), Is.EqualTo((5, 12L, 7L)));

        // Dead letters in several partitions, paged across them with partition ids.
        var toDeadLetter = consumer.Owned.OrderBy(l => l.DataStreamName, StringComparer.Ordinal).Take(5).ToArray();
        foreach (var lease in toDeadLetter)
        {
            await lease.RecordFailedAttemptAsync();
            await lease.DeadLetterAsync("bad");
        }

        var seen = new List<DeadLetter>();
        string? after = null;
        do
        {
            var dead = await admin.GetDeadLettersAsync(after, 2);
            Assert.That(dead.Items.Count, Is.LessThanOrEqualTo(2));
            seen.AddRange(dead.Items);
            after = dead.Next;
        }
        while (after is not null);
        Assert.That(seen.Select(d => d.DataStreamName), Is.EquivalentTo(toDeadLetter.Select(l => l.DataStreamName)), "every dead letter once, across the partitions");
        Assert.That(seen.Select(d => d.IdInLbs), Is.EquivalentTo(toDeadLetter.Select(l => l.IdInLbs)));
        Assert.That(seen.All(d => d.Attempts == 1), Is.True);

        var replay = await admin.ReplayDeadLetterAsync(seen[0].Id);
        Assert.That(replay.Outcome, Is.EqualTo(DeadLetterReplayOutcome.Replayed));
        Assert.That(replay.NewIdInLbs, Does.StartWith(PartitionLayout.PartitionOf(seen[0].DataStreamName!, 4) + ":"));
        Assert.That(await admin.PurgeDeadLettersAsync([seen[1].Id, seen[2].Id]), Is.EqualTo(2));
        Assert.That(await admin.PurgeAllDeadLettersAsync(), Is.EqualTo(2));

        // Force-release by name (looked up in its partition) and by partition id.
        var byName = consumer.Owned.First(l => !toDeadLetter.Contains(l));
        var released = await admin.ForceReleaseAsync(byName.DataStreamName);
        Assert.That(released.Outcome, Is.EqualTo(ForceReleaseOutcome.Released));
        Assert.That(released.Released.Single().IdInLbs, Is.EqualTo(byName.IdInLbs));
        var byId = consumer.Owned.First(l => !toDeadLetter.Contains(l) && l != byName);
        Assert.That((await admin.ForceReleaseAsync(byId.IdInLbs)).Released.Single().DataStreamName, Is.EqualTo(byId.DataStreamName));
    }

    [Test]
    public async Task A_bounded_owner_page_reads_one_lbs_entry_per_owner_returned_not_per_owned_stream()
    {
        // A private server: INFO commandstats counts every client's commands, so no other test may share it.
        await using var server = await RedisServer.StartAsync("--save", "");
        await using var redis = await server.ConnectAsync();
        var options = TestOptions.For(consumerId: "many", maxConcurrentStreams: 200, lease: TimeSpan.FromSeconds(60));
        await using var consumer = await TestConsumer.StartAsync(redis, options);
        var publisher = new StreamPublisher(redis, options);
        for (var i = 0; i < 120; i++)
        {
            await publisher.AddStreamAsync($"bulk-{i:D3}");
        }

        await Eventually.AssertAsync(() => consumer.Owned.Count == 120, TimeSpan.FromSeconds(20), "the consumer owns 120 streams");
        await consumer.CrashAsync(); // no more consumer traffic, the records stay: the counts below are the admin's alone
        var admin = new RecoverableStreamsAdmin(redis, options);
        var server0 = redis.GetServer(server.EndPoint);

        var before = await XrangeCallsAsync(server0);
        var page = await admin.GetOwnerPageAsync(10);
        var status = await admin.GetStatusAsync();
        var after = await XrangeCallsAsync(server0);

        Assert.That(page.Items, Has.Count.EqualTo(10));
        Assert.That(page.Total, Is.EqualTo(status.Owned).And.GreaterThan(0));
        Assert.That(after - before, Is.EqualTo(10), "one XRANGE per owner returned; a read of every owner would make " + page.Total);
    }

    private static async Task<long> XrangeCallsAsync(StackExchange.Redis.IServer server)
    {
        var info = await server.InfoAsync("commandstats");
        var line = info.SelectMany(g => g).FirstOrDefault(kv => kv.Key == "cmdstat_xrange").Value ?? "calls=0";
        return long.Parse(line.Split(',')[0].Split('=')[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Test]
    public async Task Force_release_takes_a_stream_from_its_owner_whose_writes_are_then_refused_and_a_peer_takes_it_over()
    {
        var service = TestOptions.NewServiceName();
        var keys = StreamKeys.For(TestOptions.For(service));
        var publisher = new StreamPublisher(Redis, TestOptions.For(service));
        var admin = new RecoverableStreamsAdmin(Redis, TestOptions.For(service));
        await using var owner = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "owner", autoClaim: true, maxConcurrentStreams: 1));
        await publisher.AddStreamAsync("stuck");
        await Eventually.AssertAsync(() => owner.Owned.Count == 1, TimeSpan.FromSeconds(10), "the owner owns the stream");
        var lease = owner.Owned.Single();
        await using var peer = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "peer", autoClaim: true));

        var release = await admin.ForceReleaseAsync("stuck");

        Assert.That(release.Outcome, Is.EqualTo(ForceReleaseOutcome.Released));
        var removed = release.Released.Single();
        Assert.That(removed.ConsumerId, Is.EqualTo("owner"));
        Assert.That(removed.IdInLbs, Is.EqualTo(lease.IdInLbs));
        Assert.That(removed.FencingToken, Is.EqualTo(lease.FencingToken));
        // The old owner's writes are refused by the scripts themselves (its session is live; only the record is gone).
        var scripts = new StreamScripts(Redis.GetDatabase(), keys);
        Assert.That(await scripts.CheckpointAsync(lease.IdInLbs, lease.Session.Id, lease.LeaseValue, "1-0", ReadOnlyMemory<byte>.Empty, lease.FencingToken), Is.EqualTo(WriteOutcome.NotOwner));
        Assert.That((await scripts.RecordAttemptAsync(lease.IdInLbs, lease.Session.Id, lease.LeaseValue)).Outcome, Is.EqualTo(WriteOutcome.NotOwner));
        // Through the lease: the write throws and the lease reports the loss.
        Assert.ThrowsAsync<StreamOwnershipLostException>(() => lease.CheckpointAsync("1-0"));
        Assert.That(lease.OwnershipLost.IsCancellationRequested, Is.True);
        await Eventually.AssertAsync(async () => (await admin.GetOwnersAsync()).Any(o => o.IdInLbs == lease.IdInLbs && o.FencingToken > lease.FencingToken), TimeSpan.FromSeconds(10), "a consumer takes the stream over with a higher token");
        Assert.That(await Redis.GetDatabase().StreamLengthAsync(keys.Lbs), Is.EqualTo(1), "the stream is not completed by a release");
    }

    [Test]
    public async Task Force_release_by_lbs_id_works_and_an_unowned_stream_is_reported_not_owned()
    {
        var options = TestOptions.For();
        var admin = new RecoverableStreamsAdmin(Redis, options);
        var id = await new StreamPublisher(Redis, options).AddStreamAsync("by-id");

        Assert.That((await admin.ForceReleaseAsync(id)).Outcome, Is.EqualTo(ForceReleaseOutcome.NotOwned), "announced but not delivered yet");
        await using var consumer = await TestConsumer.StartAsync(Redis, options);
        await Eventually.AssertAsync(() => consumer.Owned.Count == 1, TimeSpan.FromSeconds(10), "the consumer owns the stream");

        var release = await admin.ForceReleaseAsync(id);

        Assert.That(release.Outcome, Is.EqualTo(ForceReleaseOutcome.Released));
        Assert.That(release.Released.Single().DataStreamName, Is.EqualTo("by-id"));
        Assert.That((await admin.ForceReleaseAsync("never-announced")).Outcome, Is.EqualTo(ForceReleaseOutcome.NotOwned));
    }
}
