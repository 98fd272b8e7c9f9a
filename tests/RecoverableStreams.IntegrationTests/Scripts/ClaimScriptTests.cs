using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Scripts;

/// <summary>
/// <c>claim.lua</c> beyond the basics of <see cref="GrantScriptTests"/>: dead sessions are reaped whatever their number
/// and whether they own anything, claims never trust <c>{L}:counts</c>, and tokens of a bulk grant.
/// </summary>
[Parallelizable(ParallelScope.Self)]
public sealed class ClaimScriptTests : ScriptTest
{
    [Test]
    public async Task Claim_orphans_reaps_any_number_of_empty_dead_sessions_and_then_takes_a_later_dead_sessions_streams()
    {
        await OpenAsync("owner|1");
        var ids = await AnnounceAsync("a", "b", "c", "d", "e");
        await GrantAsync("owner|1");
        await OpenAsync("survivor|1");
        // 1,200 sessions that died owning nothing, all with deadlines older than the owner's.
        await Db.SortedSetAddAsync(Keys.Sessions, Enumerable.Range(0, 1_200).Select(i => new SortedSetEntry($"idle-{i:D4}|x", i + 1)).ToArray());
        await Db.SortedSetAddAsync(Keys.Sessions, "owner|1", 5_000, SortedSetWhen.Exists);

        var claimed = new List<string>();
        var calls = 0;
        ClaimReply reply;
        do
        {
            reply = await Scripts.ClaimOrphansAsync("survivor", "survivor|1", 100);
            claimed.AddRange(reply.Results.Where(r => r.Status == ClaimStatus.Claimed).Select(r => r.Id));
            calls++;
        }
        while ((reply.OrphansLeft > 0 || reply.DeadSessionsLeft) && calls < 10);

        Assert.Multiple(async () =>
        {
            Assert.That(claimed, Is.EquivalentTo(ids), "the owner's streams are found behind the empty dead sessions");
            Assert.That(calls, Is.EqualTo(2), "at most 1,000 dead sessions are visited per call: 1,201 take two calls");
            Assert.That(await Db.SortedSetLengthAsync(Keys.Sessions), Is.EqualTo(1), "every dead session was reaped; only the survivor is left");
        });
    }

    [Test]
    public async Task Claim_orphans_reaps_empty_dead_sessions_even_when_it_takes_nothing()
    {
        await OpenAsync("survivor|1");
        await Db.SortedSetAddAsync(Keys.Sessions, Enumerable.Range(0, 150).Select(i => new SortedSetEntry($"idle-{i}|x", i + 1)).ToArray());

        var reply = await Scripts.ClaimOrphansAsync("survivor", "survivor|1", 0);

        Assert.Multiple(async () =>
        {
            Assert.That(reply.Results, Is.Empty);
            Assert.That(reply.DeadSessionsLeft, Is.False);
            Assert.That(await Db.SortedSetLengthAsync(Keys.Sessions), Is.EqualTo(1), "no free capacity, yet the empty dead sessions are gone");
        });
    }

    [TestCase("zero")]
    [TestCase("evicted")]
    [TestCase("negative")]
    public async Task Claim_orphans_takes_a_dead_sessions_streams_whatever_its_count_says(string drift)
    {
        await OpenAsync("dead|1");
        var ids = await AnnounceAsync("x", "y", "z");
        await GrantAsync("dead|1");
        await OpenAsync("a|1");
        await KillAsync("dead|1");
        switch (drift)
        {
            case "zero":
                await Db.HashSetAsync(Keys.Counts, "dead|1", 0);
                break;
            case "evicted":
                await Db.KeyDeleteAsync(Keys.Counts);
                break;
            default:
                await Db.HashSetAsync(Keys.Counts, "dead|1", -7);
                break;
        }

        var reply = await Scripts.ClaimOrphansAsync("a", "a|1", 100);

        Assert.Multiple(async () =>
        {
            Assert.That(reply.Results.Where(r => r.Status == ClaimStatus.Claimed).Select(r => r.Id), Is.EquivalentTo(ids));
            Assert.That(await OwnedByAsync("a|1"), Is.EquivalentTo(ids));
            Assert.That(await Db.SortedSetScoreAsync(Keys.Sessions, "dead|1"), Is.Null, "the emptied dead session is reaped");
        });
    }

    [Test]
    public async Task Close_session_marks_a_session_dead_rather_than_removing_it_while_it_owns_streams_whatever_its_count_says()
    {
        await OpenAsync("closing|1");
        var ids = await AnnounceAsync("x", "y");
        await GrantAsync("closing|1");
        await OpenAsync("a|1");
        await Db.HashSetAsync(Keys.Counts, "closing|1", 0);

        var outcome = await Scripts.CloseSessionAsync("closing|1");
        var reply = await Scripts.ClaimOrphansAsync("a", "a|1", 100);

        Assert.Multiple(() =>
        {
            Assert.That(outcome, Is.EqualTo(CloseOutcome.MarkedDead), "it still owns two streams");
            Assert.That(reply.Results.Where(r => r.Status == ClaimStatus.Claimed).Select(r => r.Id), Is.EquivalentTo(ids), "peers take them at once");
        });
    }

    [Test]
    public async Task A_bulk_claim_grants_strictly_increasing_tokens_above_the_fence_and_the_clock_and_stores_the_last()
    {
        await OpenAsync("dead|1");
        await AnnounceManyAsync(600);
        var granted = await GrantAsync("dead|1");
        await OpenAsync("a|1");
        await KillAsync("dead|1");
        // A fence rolled back (a promoted replica that missed the last grants): the clock floor still holds.
        await Db.StringSetAsync(Keys.Fence, "1");
        var before = await ServerNowMsAsync();

        var reply = await Scripts.ClaimOrphansAsync("a", "a|1", 1_000);

        var tokens = reply.Results.Select(r => r.Entry!.FencingToken).ToArray();
        Assert.Multiple(async () =>
        {
            Assert.That(tokens, Has.Length.EqualTo(600));
            Assert.That(tokens, Is.Unique);
            Assert.That(tokens.Min(), Is.GreaterThan(granted.Entries.Max(e => e.FencingToken)), "every new token is above every earlier one of these streams");
            Assert.That(tokens.Min(), Is.GreaterThanOrEqualTo(before * 1000), "never below the Redis clock in microseconds");
            Assert.That((long)await Db.StringGetAsync(Keys.Fence), Is.EqualTo(tokens.Max()), "the fence stores the highest token granted");
            foreach (var r in reply.Results)
            {
                Assert.That((string?)await Db.HashGetAsync(Keys.Owners, r.Id), Is.EqualTo("a|1|" + r.Entry!.FencingToken));
            }

            Assert.That(await CountOfAsync("a|1"), Is.EqualTo(600));
        });

        // The next grant (any script) is above the whole range.
        await AnnounceAsync("later");
        var next = (await GrantAsync("a|1")).Entries.Single().FencingToken;
        Assert.That(next, Is.GreaterThan(tokens.Max()));
    }

    [Test]
    public async Task A_bulk_claim_reports_completed_and_deleted_entries_as_not_found_and_drops_them_from_every_index()
    {
        await OpenAsync("dead|1");
        var ids = await AnnounceAsync("done", "deleted", "kept");
        await GrantAsync("dead|1");
        await OpenAsync("a|1");
        await KillAsync("dead|1");
        await Db.StreamAcknowledgeAsync(Keys.Lbs, Keys.Group, ids[0]);
        await Db.StreamDeleteAsync(Keys.Lbs, [ids[1]]);

        var reply = await Scripts.ClaimOrphansAsync("a", "a|1", 100);

        Assert.Multiple(async () =>
        {
            Assert.That(reply.Results.Single(r => r.Id == ids[0]).Status, Is.EqualTo(ClaimStatus.NotFound));
            Assert.That(reply.Results.Single(r => r.Id == ids[1]).Status, Is.EqualTo(ClaimStatus.NotFound));
            Assert.That(reply.Results.Single(r => r.Id == ids[2]).Status, Is.EqualTo(ClaimStatus.Claimed));
            Assert.That(await Db.HashLengthAsync(Keys.Owners), Is.EqualTo(1), "records of finished entries are gone");
            Assert.That((await Db.StreamPendingAsync(Keys.Lbs, Keys.Group)).PendingMessageCount, Is.EqualTo(1), "the deleted entry left the pending list");
            Assert.That(await OwnedByAsync("a|1"), Is.EqualTo(new[] { ids[2] }));
        });
    }

    [Test]
    public async Task Released_streams_are_claimed_with_the_consumer_that_released_them_and_an_acknowledged_one_is_not_found()
    {
        // Consumer x takes 20 entries, then consumer y some of the next 5. x releases its first two and its last; y one.
        await OpenAsync("x|1");
        await AnnounceManyAsync(20, "x");
        var x = (await GrantAsync("x|1", 20)).Entries.ToArray();
        await OpenAsync("y|1");
        await AnnounceManyAsync(5, "y");
        var y = (await GrantAsync("y|1", 5)).Entries.ToArray();
        Assert.That((x.Length, y.Length > 0), Is.EqualTo((20, true)));
        await Scripts.ReleaseAsync("x|1", [(x[0].Id, "x|1|" + x[0].FencingToken), (x[1].Id, "x|1|" + x[1].FencingToken), (x[19].Id, "x|1|" + x[19].FencingToken)]);
        await Scripts.ReleaseAsync("y|1", [(y[0].Id, "y|1|" + y[0].FencingToken)]);
        // An acknowledged entry in the free index is nobody's.
        var acked = (await AnnounceAsync("acked"))[0];
        await Db.SortedSetAddAsync(Keys.Free, acked, 0);
        await OpenAsync("z|1");

        var reply = await Scripts.ClaimOrphansAsync("z", "z|1", 100);

        var previous = reply.Results.Where(r => r.Status == ClaimStatus.Claimed).ToDictionary(r => r.Id, r => r.Entry!.PreviousConsumer);
        Assert.Multiple(() =>
        {
            Assert.That(previous, Is.EquivalentTo(new Dictionary<string, string?> { [x[0].Id] = "x", [x[1].Id] = "x", [x[19].Id] = "x", [y[0].Id] = "y" }));
            Assert.That(reply.Results.Single(r => r.Id == acked).Status, Is.EqualTo(ClaimStatus.NotFound));
        });
    }

    [Test]
    public async Task Claims_smaller_than_what_waits_take_the_free_index_head_then_a_dead_sessions_first_members_and_leave_the_rest_listed()
    {
        await OpenAsync("x|1");
        var released = await AnnounceAsync("f0", "f1", "f2", "f3");
        var grants = (await GrantAsync("x|1")).Entries;
        await Scripts.ReleaseAsync("x|1", grants.Select(e => (e.Id, "x|1|" + e.FencingToken)).ToArray());
        // x stops too: the survivor is the only live session, so every call's share is its whole capacity.
        await KillAsync("x|1");
        await OpenAsync("dead|1");
        var dead = (await AnnounceAsync("d0", "d1", "d2", "d3", "d4")).Order(StringComparer.Ordinal).ToArray();
        await GrantAsync("dead|1");
        await OpenAsync("a|1");
        await KillAsync("dead|1");
        var freeOrder = (await Db.SortedSetRangeByRankAsync(Keys.Free)).Select(v => (string)v!).ToArray();
        Assert.That(freeOrder, Is.EquivalentTo(released), "set-up: the four released streams wait in the free-now index");

        async Task<string[]> ClaimAsync(int capacity) =>
            (await Scripts.ClaimOrphansAsync("a", "a|1", capacity)).Results.Where(r => r.Status == ClaimStatus.Claimed).Select(r => r.Id).ToArray();
        async Task<string[]> DeadListedAsync() =>
            (await Db.SortedSetRangeByValueAsync(Keys.Owned, "dead|1\0", "dead|1\u0001", Exclude.Stop)).Select(m => ((string)m!)["dead|1\0".Length..]).ToArray();

        var first = await ClaimAsync(3);
        var freeAfterFirst = (await Db.SortedSetRangeByRankAsync(Keys.Free)).Select(v => (string)v!).ToArray();
        var second = await ClaimAsync(3);
        var deadAfterSecond = await DeadListedAsync();
        var countAfterSecond = await CountOfAsync("dead|1");
        var third = await ClaimAsync(10);

        Assert.Multiple(async () =>
        {
            Assert.That(first, Is.EquivalentTo(freeOrder[..3]), "the head of the free-now index first");
            Assert.That(freeAfterFirst, Is.EqualTo(freeOrder[3..]), "only the streams taken leave the free-now index");
            Assert.That(second, Is.EquivalentTo(freeOrder[3..].Concat(dead[..2])), "the rest of the free-now index, then the dead session's first members");
            Assert.That(deadAfterSecond, Is.EqualTo(dead[2..]), "only the members taken leave the dead session's index");
            Assert.That(countAfterSecond, Is.EqualTo(3), "the dead session's count follows its index");
            Assert.That(third, Is.EquivalentTo(dead[2..]));
            Assert.That(await OwnedByAsync("a|1"), Is.EquivalentTo(released.Concat(dead)));
            Assert.That(await Db.SortedSetLengthAsync(Keys.Free), Is.Zero);
            Assert.That(await Db.SortedSetScoreAsync(Keys.Sessions, "dead|1"), Is.Null, "the emptied dead session is reaped");
        });
    }

    [Test]
    public async Task Streams_freed_without_a_release_name_their_previous_consumer_from_the_group_and_a_deleted_released_entry_leaves_nothing_behind()
    {
        await OpenAsync("x|1");
        var reaped = await AnnounceAsync("r0", "r1");
        await GrantAsync("x|1");
        await OpenAsync("y|1");
        var deleted = (await AnnounceAsync("gone"))[0];
        var grant = (await GrantAsync("y|1")).Entries.Single();
        await Scripts.ReleaseAsync("y|1", [(deleted, "y|1|" + grant.FencingToken)]);
        Assert.That((string?)await Db.HashGetAsync(Keys.ReleasedBy, deleted), Is.EqualTo("y"), "set-up: the release names its consumer");
        await Db.StreamDeleteAsync(Keys.Lbs, [deleted]);
        await KillAsync("x|1");
        await KillAsync("y|1");
        await OpenAsync("z|1");

        // Announce mode lists them: x's streams enter the free-now index without a release, the deleted entry leaves it.
        var listed = await Scripts.FindOrphansAsync("z|1", 0, 100);
        var reply = await Scripts.ClaimOrphansAsync("z", "z|1", 100);

        Assert.Multiple(async () =>
        {
            Assert.That(listed.Entries.Select(e => e.Id), Is.EquivalentTo(reaped));
            Assert.That(reply.Results.Where(r => r.Status == ClaimStatus.Claimed).ToDictionary(r => r.Id, r => r.Entry!.PreviousConsumer),
                Is.EquivalentTo(reaped.ToDictionary(id => id, _ => (string?)"x")), "named from the group's pending list");
            Assert.That(await Db.HashLengthAsync(Keys.ReleasedBy), Is.Zero, "the deleted entry's released-by entry went with it");
        });
    }
}
