using System.Globalization;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Scripts;

/// <summary>
/// The bulk scripts (issue 14, "Claims and releases in bulk"): one call moves up to 1,000 streams with a number of
/// Redis commands that does not grow with the number of streams. Counted with Redis' own commandstats on a private
/// server, reset right before the one script call and read right after it (the call is the only script run between).
/// </summary>
[NonParallelizable]
public sealed class BulkScriptTests
{
    private RedisServer? _server;
    private ConnectionMultiplexer? _redis;

    private IDatabase Db => _redis!.GetDatabase();

    private IServer Server => _redis!.GetServers()[0];

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _server = await RedisServer.StartAsync();
        _redis = await _server.ConnectAsync();
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    /// <remarks>
    /// A hundred, not ten: a call of at most 16 streams reads their fields with the range's probe alone, one command
    /// fewer; both sizes compared here read past it.
    /// </remarks>
    [Test]
    public async Task Claiming_a_dead_sessions_streams_runs_the_same_number_of_commands_for_a_hundred_or_a_thousand_streams()
    {
        var few = await CountClaimAsync(100);
        var many = await CountClaimAsync(1_000);

        await TestContext.Out.WriteLineAsync($"claim.lua commands per call: 100 streams {few.Commands}, 1,000 streams {many.Commands}");
        Assert.Multiple(() =>
        {
            Assert.That(few.Claimed, Is.EqualTo(100));
            Assert.That(many.Claimed, Is.EqualTo(1_000));
            Assert.That(many.Commands, Is.EqualTo(few.Commands), "the hot path does not grow with the number of streams");
            Assert.That(many.Commands, Is.LessThanOrEqualTo(25), "a small constant: one HMGET, one ZMSCORE, variadic XCLAIM/HSET/ZADD/ZREM, one fence update");
        });
    }

    [Test]
    public async Task Claiming_released_streams_runs_the_same_number_of_commands_for_a_hundred_or_a_thousand_streams_and_names_who_released_them()
    {
        var few = await CountReleasedClaimAsync(100);
        var many = await CountReleasedClaimAsync(1_000);

        await TestContext.Out.WriteLineAsync($"claim.lua commands per call, released streams: 100 streams {few.Commands}, 1,000 streams {many.Commands}");
        Assert.Multiple(() =>
        {
            Assert.That(few.ClaimedFromX, Is.EqualTo(100), "every stream claimed, named as released by x");
            Assert.That(many.ClaimedFromX, Is.EqualTo(1_000), "every stream claimed, named as released by x");
            Assert.That(many.Commands, Is.EqualTo(few.Commands), "no command per stream (formerly one XPENDING each to name the consumer that released it)");
            Assert.That(many.ReleasedByLeft, Is.Zero, "the released-by entries go with the claim");
        });
    }

    [Test]
    public async Task A_dead_sessions_run_of_streams_is_claimed_with_one_range_read_of_their_fields_instead_of_a_lookup_per_stream()
    {
        var (keys, granted, reply, stats) = await ClaimDeadSessionsStreamsAsync(1_000);

        var claimed = reply.Results.Where(r => r.Status == ClaimStatus.Claimed).ToList();
        var pending = await Db.StreamPendingMessagesAsync(keys.Lbs, keys.Group, 2_000, "a");
        Assert.Multiple(() =>
        {
            Assert.That(claimed, Has.Count.EqualTo(1_000));
            Assert.That(claimed.Select(r => (r.Id, Name(r.Entry!.Fields))), Is.EquivalentTo(granted.Select(e => (e.Id, Name(e.Fields)))), "each stream with its own fields");
            Assert.That(stats.GetValueOrDefault("xrange"), Is.EqualTo(2), "a probe of 16 and one range over the rest, not a lookup per stream");
            Assert.That(stats.GetValueOrDefault("xclaim"), Is.EqualTo(1));
            Assert.That(pending.Select(p => p.DeliveryCount).Distinct().ToArray(), Is.EqualTo(new[] { 1 }), "moved with JUSTID (a delivery to the new consumer is not counted)");
            Assert.That(pending, Has.Length.EqualTo(1_000), "every pending entry moved to the claimer");
        });
    }

    [Test]
    public async Task Streams_scattered_among_another_sessions_keep_xclaims_own_fields_and_ids_out_of_string_order_are_read_one_by_one()
    {
        var (scripts, keys) = NewService();
        await scripts.OpenSessionAsync("dead|1", TimeSpan.FromSeconds(30));
        await scripts.OpenSessionAsync("other|1", TimeSpan.FromSeconds(30));
        await Db.StreamCreateConsumerGroupAsync(keys.Lbs, keys.Group, "0", createStream: true);
        // One stream in four is the dead session's; the others go to a live session in between.
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < 400; i++)
        {
            await Db.StreamAddAsync(keys.Lbs, "lbs-input", $$"""{"DataStreamName":"scattered-{{i}}"}""");
            var session = i % 4 == 0 ? "dead|1" : "other|1";
            foreach (var entry in (await scripts.ReadAndAcquireAsync(session[..session.IndexOf('|', StringComparison.Ordinal)], session, 1, 1000)).Entries)
            {
                if (session == "dead|1")
                {
                    names[entry.Id] = Name(entry.Fields);
                }
            }
        }

        await scripts.OpenSessionAsync("a|1", TimeSpan.FromSeconds(30));
        await Db.SortedSetAddAsync(keys.Sessions, "dead|1", 0, SortedSetWhen.Exists);
        await Server.ExecuteAsync("CONFIG", "RESETSTAT");
        var scattered = await scripts.ClaimOrphansAsync("a", "a|1", 1_000);
        var scatteredStats = await StatsAsync();

        // Ids whose string order is not their order in the stream: the range starts at "9-10", the string minimum, and
        // reads on from there; "9-8" and "9-9" lie before it and are read one by one.
        var (outOfOrder, keysOutOfOrder) = NewService();
        await outOfOrder.OpenSessionAsync("dead|1", TimeSpan.FromSeconds(30));
        await Db.StreamCreateConsumerGroupAsync(keysOutOfOrder.Lbs, keysOutOfOrder.Group, "0", createStream: true);
        var ids = Enumerable.Range(8, 30).Select(seq => $"9-{seq}").ToArray();
        foreach (var id in ids)
        {
            await Db.StreamAddAsync(keysOutOfOrder.Lbs, "lbs-input", $$"""{"DataStreamName":"ordered-{{id}}"}""", messageId: id);
        }

        Assert.That((await outOfOrder.ReadAndAcquireAsync("dead", "dead|1", 100, 1000)).Entries, Has.Count.EqualTo(ids.Length));
        await outOfOrder.OpenSessionAsync("a|1", TimeSpan.FromSeconds(30));
        await Db.SortedSetAddAsync(keysOutOfOrder.Sessions, "dead|1", 0, SortedSetWhen.Exists);
        await Server.ExecuteAsync("CONFIG", "RESETSTAT");
        var reordered = await outOfOrder.ClaimOrphansAsync("a", "a|1", 1_000);
        var reorderedStats = await StatsAsync();

        var scatteredPending = await Db.StreamPendingMessagesAsync(keys.Lbs, keys.Group, 1_000, "a");
        Assert.Multiple(() =>
        {
            Assert.That(scattered.Results.Where(r => r.Status == ClaimStatus.Claimed).Select(r => (r.Id, Name(r.Entry!.Fields))), Is.EquivalentTo(names.Select(n => (n.Key, n.Value))), "the dead session's 100, each with its own fields");
            Assert.That(scatteredStats.GetValueOrDefault("xrange"), Is.EqualTo(1), "the probe only: a range would read three others' entries for each of these");
            Assert.That(scatteredPending.Select(p => p.DeliveryCount).Distinct().ToArray(), Is.EqualTo(new[] { 2 }), "XCLAIM returned the fields (and counted the delivery)");
            Assert.That(reordered.Results.Where(r => r.Status == ClaimStatus.Claimed).Select(r => (r.Id, Name(r.Entry!.Fields))), Is.EquivalentTo(ids.Select(id => (id, $"ordered-{id}"))), "all 30, each with its own fields");
            Assert.That(reorderedStats.GetValueOrDefault("xrange"), Is.EqualTo(2 + 2), "the probe, the range, and one read for each of the two ids before the string minimum");
        });
    }

    [Test]
    public async Task Granting_a_single_new_announcement_reads_no_lag_and_a_backlog_still_reads_its_fair_share()
    {
        var options = TestOptions.For();
        var keys = StreamKeys.For(options);
        var scripts = new StreamScripts(Db, keys);
        await scripts.OpenSessionAsync("a|1", TimeSpan.FromSeconds(30));
        await scripts.OpenSessionAsync("b|1", TimeSpan.FromSeconds(30));
        await GrantManyAsync(scripts, keys, "a|1", 1);
        var publisher = new StreamPublisher(_redis!, options);
        await publisher.AddStreamAsync("single");

        await Server.ExecuteAsync("CONFIG", "RESETSTAT");
        var single = await scripts.ReadAndAcquireAsync("a", "a|1", 100, 1000);
        var singleStats = await StatsAsync();

        // A backlog of ten over two live sessions: five each, read by the lag as before.
        await Task.WhenAll(Enumerable.Range(0, 10).Select(i => publisher.AddStreamAsync($"backlog-{i}")));
        var backlog = await scripts.ReadAndAcquireAsync("a", "a|1", 100, 1000);

        Assert.Multiple(() =>
        {
            Assert.That(single.Entries, Has.Count.EqualTo(1));
            Assert.That(single.Left, Is.Zero, "nothing else waits");
            Assert.That(singleStats.GetValueOrDefault("xinfo|groups") + singleStats.GetValueOrDefault("xinfo"), Is.Zero, "no lag read for a single announcement");
            Assert.That(singleStats.GetValueOrDefault("zcount"), Is.Zero, "nor the live sessions");
            Assert.That(singleStats.GetValueOrDefault("hset"), Is.EqualTo(1), "the record only: the publisher indexed the name already");
            Assert.That(backlog.Entries, Has.Count.EqualTo(5), "a fair share of the backlog of ten over two live sessions");
            Assert.That(backlog.Left, Is.EqualTo(5));
        });
    }

    [Test]
    public async Task Releasing_runs_the_same_number_of_commands_for_ten_or_a_thousand_streams()
    {
        var few = await CountReleaseAsync(10);
        var many = await CountReleaseAsync(1_000);

        await TestContext.Out.WriteLineAsync($"release.lua commands per call: 10 streams {few.Commands}, 1,000 streams {many.Commands}");
        Assert.Multiple(() =>
        {
            Assert.That(few.Released, Is.EqualTo(10));
            Assert.That(many.Released, Is.EqualTo(1_000));
            Assert.That(many.Commands, Is.EqualTo(few.Commands), "the release does not grow with the number of streams");
            Assert.That(many.Commands, Is.LessThanOrEqualTo(10));
        });
    }

    [Test]
    public async Task A_release_of_2500_streams_is_three_calls_in_one_flight_with_one_wake_up_naming_every_stream()
    {
        var (scripts, keys) = NewService();
        await scripts.OpenSessionAsync("a|1", TimeSpan.FromSeconds(30));
        var granted = await GrantManyAsync(scripts, keys, "a|1", 2_500);
        var messages = new List<string>();
        var subscriber = _redis!.GetSubscriber();
        var channel = RedisChannel.Literal(keys.Events);
        await subscriber.SubscribeAsync(channel, (_, m) =>
        {
            lock (messages)
            {
                messages.Add((string)m!);
            }
        });

        await Server.ExecuteAsync("CONFIG", "RESETSTAT");
        var released = await scripts.ReleaseManyAsync("a|1", granted.Select(e => (e.Id, "a|1|" + e.FencingToken)).ToArray());
        var stats = await StatsAsync();

        await Eventually.AssertAsync(() => { lock (messages) { return messages.Count > 0; } }, TimeSpan.FromSeconds(5), "the wake-up arrives");
        await subscriber.UnsubscribeAsync(channel);
        Assert.Multiple(async () =>
        {
            Assert.That(released, Is.EquivalentTo(granted.Select(e => e.Id)));
            Assert.That(stats.GetValueOrDefault("evalsha") + stats.GetValueOrDefault("eval"), Is.EqualTo(3), "three calls of at most 1,000");
            Assert.That(stats.GetValueOrDefault("publish"), Is.EqualTo(1), "one wake-up for the whole flight");
            Assert.That(messages, Has.Count.EqualTo(1));
            Assert.That(messages[0].Split(' ').Skip(1), Is.EquivalentTo(granted.Select(e => e.Id)), "it names every released stream");
            Assert.That(await Db.SortedSetLengthAsync(keys.Free), Is.EqualTo(2_500));
            Assert.That(await Db.HashLengthAsync(keys.Owners), Is.Zero);
        });
    }

    [Test]
    public async Task A_shutdowns_close_leaves_a_session_that_owns_streams_dead_for_peers_to_claim_at_once_and_removes_one_that_owns_nothing()
    {
        var (scripts, keys) = NewService();
        await scripts.OpenSessionAsync("a|1", TimeSpan.FromSeconds(30));
        var a = await GrantManyAsync(scripts, keys, "a|1", 1_500);
        await scripts.OpenSessionAsync("peer|1", TimeSpan.FromSeconds(30));
        var messages = new List<string>();
        var subscriber = _redis!.GetSubscriber();
        var channel = RedisChannel.Literal(keys.Events);
        await subscriber.SubscribeAsync(channel, (_, m) =>
        {
            lock (messages)
            {
                messages.Add((string)m!);
            }
        });

        // A shutdown after every lease ended locally: nothing is released first; the session is closed, naming what it left.
        var closed = await scripts.CloseSessionAsync("a|1", a.Select(e => e.Id).ToArray());
        var deadline = await Db.SortedSetScoreAsync(keys.Sessions, "a|1");
        var refused = await scripts.ReleaseManyAsync("a|1", [(a[0].Id, "a|1|" + a[0].FencingToken)]);
        await Eventually.AssertAsync(() => { lock (messages) { return messages.Count >= 1; } }, TimeSpan.FromSeconds(5), "the wake-up arrives");
        var claimed = new List<ClaimResult>();
        for (var call = 0; call < 3 && claimed.Count < a.Count; call++)
        {
            claimed.AddRange((await scripts.ClaimOrphansAsync("peer", "peer|1", 1_000)).Results.Where(r => r.Status == ClaimStatus.Claimed));
        }

        var sessionsAfterClaims = (await Db.SortedSetRangeByRankAsync(keys.Sessions)).Select(v => (string)v!).ToArray();
        await subscriber.UnsubscribeAsync(channel);

        // Everything released before the close: the session owns nothing and is removed, with its count.
        var (otherScripts, otherKeys) = NewService();
        await otherScripts.OpenSessionAsync("b|1", TimeSpan.FromSeconds(30));
        var b = await GrantManyAsync(otherScripts, otherKeys, "b|1", 2);
        await otherScripts.ReleaseManyAsync("b|1", b.Select(e => (e.Id, "b|1|" + e.FencingToken)).ToArray());
        var bClosed = await otherScripts.CloseSessionAsync("b|1");

        Assert.Multiple(async () =>
        {
            Assert.That(closed, Is.EqualTo(CloseOutcome.MarkedDead), "a|1 still owns its streams");
            Assert.That(deadline, Is.Zero, "dead at once, so peers take its streams now");
            Assert.That(refused, Is.Empty, "a dead session's writes are refused");
            lock (messages)
            {
                Assert.That(messages, Has.Count.EqualTo(1), "one wake-up");
                Assert.That(messages[0].Split(' ')[0], Is.EqualTo("closed"));
                Assert.That(messages[0].Split(' ').Skip(1), Is.EquivalentTo(a.Select(e => e.Id)), "naming every stream it left");
            }

            Assert.That(claimed.Select(r => r.Id), Is.EquivalentTo(a.Select(e => e.Id)), "the peer claims every one as a dead session's");
            Assert.That(claimed.Select(r => r.Entry!.PreviousConsumer).Distinct(), Is.EqualTo(new[] { "a" }), "named from their records");
            Assert.That(sessionsAfterClaims, Is.EqualTo(new[] { "peer|1" }), "the emptied session is reaped");
            Assert.That(bClosed, Is.EqualTo(CloseOutcome.Removed));
            Assert.That(await Db.SortedSetLengthAsync(otherKeys.Sessions), Is.Zero);
            Assert.That(await Db.HashExistsAsync(otherKeys.Counts, "b|1"), Is.False, "and its count with it");
        });
    }

    [Test]
    public async Task A_release_refuses_other_tokens_and_dead_sessions_and_an_empty_release_wakes_nobody()
    {
        var (scripts, keys) = NewService();
        await scripts.OpenSessionAsync("a|1", TimeSpan.FromSeconds(30));
        var granted = await GrantManyAsync(scripts, keys, "a|1", 3);

        var wrongToken = await scripts.ReleaseManyAsync("a|1", [(granted[0].Id, "a|1|1"), (granted[1].Id, "a|1|" + granted[1].FencingToken)]);
        await Server.ExecuteAsync("CONFIG", "RESETSTAT");
        var nothing = await scripts.ReleaseManyAsync("a|1", [(granted[0].Id, "a|1|1")]);
        var quiet = await StatsAsync();
        await Db.SortedSetAddAsync(keys.Sessions, "a|1", 0, SortedSetWhen.Exists);
        var dead = await scripts.ReleaseManyAsync("a|1", [(granted[2].Id, "a|1|" + granted[2].FencingToken)]);

        Assert.Multiple(async () =>
        {
            Assert.That(wrongToken, Is.EqualTo(new[] { granted[1].Id }), "only the record with the caller's token is released");
            Assert.That(nothing, Is.Empty);
            Assert.That(quiet.GetValueOrDefault("publish"), Is.Zero, "nothing released, nobody woken");
            Assert.That(dead, Is.Empty, "a dead session releases nothing");
            Assert.That((string?)await Db.HashGetAsync(keys.Owners, granted[0].Id), Is.EqualTo("a|1|" + granted[0].FencingToken));
            Assert.That(await Db.HashExistsAsync(keys.Owners, granted[2].Id), Is.True);
            Assert.That(await Db.SortedSetLengthAsync(keys.Free), Is.EqualTo(1));
        });
    }

    private async Task<(long Commands, int Claimed)> CountClaimAsync(int streams)
    {
        var (_, _, reply, stats) = await ClaimDeadSessionsStreamsAsync(streams);

        Assert.That(stats.GetValueOrDefault("evalsha") + stats.GetValueOrDefault("eval"), Is.EqualTo(1), "the count is of one script call");
        return (Inner(stats), reply.Results.Count(r => r.Status == ClaimStatus.Claimed));
    }

    /// <summary>
    /// A session granted <paramref name="streams"/> streams dies; a live one claims them in one call, with the command
    /// statistics reset right before it and read right after it.
    /// </summary>
    private async Task<(StreamKeys Keys, List<AcquiredEntry> Granted, ClaimReply Reply, Dictionary<string, long> Stats)> ClaimDeadSessionsStreamsAsync(int streams)
    {
        var (scripts, keys) = NewService();
        await scripts.OpenSessionAsync("dead|1", TimeSpan.FromSeconds(30));
        var granted = await GrantManyAsync(scripts, keys, "dead|1", streams);
        await scripts.OpenSessionAsync("a|1", TimeSpan.FromSeconds(30));
        await Db.SortedSetAddAsync(keys.Sessions, "dead|1", 0, SortedSetWhen.Exists);

        await Server.ExecuteAsync("CONFIG", "RESETSTAT");
        var reply = await scripts.ClaimOrphansAsync("a", "a|1", 1_000);
        return (keys, granted, reply, await StatsAsync());
    }

    private async Task<(long Commands, int ClaimedFromX, long ReleasedByLeft)> CountReleasedClaimAsync(int streams)
    {
        var (scripts, keys) = NewService();
        await scripts.OpenSessionAsync("x|1", TimeSpan.FromSeconds(30));
        var granted = await GrantManyAsync(scripts, keys, "x|1", streams);
        await scripts.ReleaseManyAsync("x|1", granted.Select(e => (e.Id, "x|1|" + e.FencingToken)).ToArray());
        await scripts.CloseSessionAsync("x|1");
        await scripts.OpenSessionAsync("a|1", TimeSpan.FromSeconds(30));

        await Server.ExecuteAsync("CONFIG", "RESETSTAT");
        var reply = await scripts.ClaimOrphansAsync("a", "a|1", 1_000);
        var stats = await StatsAsync();

        Assert.That(stats.GetValueOrDefault("evalsha") + stats.GetValueOrDefault("eval"), Is.EqualTo(1), "the count is of one script call");
        var fromX = reply.Results.Count(r => r.Status == ClaimStatus.Claimed && r.Entry!.PreviousConsumer == "x");
        return (Inner(stats), fromX, await Db.HashLengthAsync(keys.ReleasedBy));
    }

    private async Task<(long Commands, int Released)> CountReleaseAsync(int streams)
    {
        var (scripts, keys) = NewService();
        await scripts.OpenSessionAsync("a|1", TimeSpan.FromSeconds(30));
        var granted = await GrantManyAsync(scripts, keys, "a|1", streams);

        await Server.ExecuteAsync("CONFIG", "RESETSTAT");
        var released = await scripts.ReleaseManyAsync("a|1", granted.Select(e => (e.Id, "a|1|" + e.FencingToken)).ToArray());
        var stats = await StatsAsync();

        Assert.That(stats.GetValueOrDefault("evalsha") + stats.GetValueOrDefault("eval"), Is.EqualTo(1), "the count is of one script call");
        return (Inner(stats), released.Count);
    }

    /// <summary>The commands run inside the script call: everything but the call itself and the client's own chatter.</summary>
    private static long Inner(Dictionary<string, long> stats) =>
        stats.Where(kv => kv.Key is not ("evalsha" or "eval" or "info" or "ping" or "echo" or "subscribe" or "unsubscribe")
                && !kv.Key.StartsWith("config", StringComparison.Ordinal)
                && !kv.Key.StartsWith("client", StringComparison.Ordinal)
                && !kv.Key.StartsWith("cluster", StringComparison.Ordinal)
                && !kv.Key.StartsWith("script", StringComparison.Ordinal))
            .Sum(kv => kv.Value);

    private async Task<Dictionary<string, long>> StatsAsync()
    {
        var stats = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (key, value) in (await Server.InfoAsync("commandstats")).SelectMany(g => g))
        {
            if (key.StartsWith("cmdstat_", StringComparison.Ordinal))
            {
                stats[key["cmdstat_".Length..]] = long.Parse(value.Split(',')[0]["calls=".Length..], CultureInfo.InvariantCulture);
            }
        }

        return stats;
    }

    /// <summary>The data stream name an announcement's fields carry.</summary>
    private static string Name(IReadOnlyList<KeyValuePair<string, RedisValue>> fields) =>
        System.Text.Json.JsonDocument.Parse((string)fields.Single(f => f.Key == "lbs-input").Value!).RootElement.GetProperty("DataStreamName").GetString()!;

    private (StreamScripts Scripts, StreamKeys Keys) NewService()
    {
        var keys = StreamKeys.For(TestOptions.For());
        return (new StreamScripts(Db, keys), keys);
    }

    private async Task<List<AcquiredEntry>> GrantManyAsync(StreamScripts scripts, StreamKeys keys, string session, int count)
    {
        await Db.StreamCreateConsumerGroupAsync(keys.Lbs, keys.Group, "0", createStream: true);
        var batch = Db.CreateBatch();
        var adds = Enumerable.Range(0, count).Select(i => batch.StreamAddAsync(keys.Lbs, "lbs-input", $$"""{"DataStreamName":"s-{{i}}"}""")).ToArray();
        batch.Execute();
        await Task.WhenAll(adds);
        var granted = new List<AcquiredEntry>();
        while (granted.Count < count)
        {
            granted.AddRange((await scripts.ReadAndAcquireAsync(session[..session.LastIndexOf('|')], session, 1_000, 1000)).Entries);
        }

        return granted;
    }
}
