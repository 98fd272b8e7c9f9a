using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Scripts;

/// <summary>
/// The scripts that grant streams (<c>read_acquire.lua</c>, <c>claim.lua</c>) or hand them out (<c>find_orphans.lua</c>,
/// <c>reconcile.lua</c>): one record per stream, the session index and counts kept true, fencing tokens, bounds.
/// </summary>
[Parallelizable(ParallelScope.Self)]
public sealed class GrantScriptTests : ScriptTest
{
    [Test]
    public async Task Read_acquire_grants_to_a_live_session_one_record_index_member_and_count_per_stream()
    {
        await OpenAsync("a|1");
        var ids = await AnnounceAsync("x", "y", "z");
        var before = await ServerNowMsAsync();

        var reply = await GrantAsync("a|1");

        Assert.Multiple(async () =>
        {
            Assert.That(reply.SessionLive, Is.True);
            Assert.That(reply.Entries.Select(e => e.Id), Is.EqualTo(ids));
            foreach (var entry in reply.Entries)
            {
                Assert.That((string?)await Db.HashGetAsync(Keys.Owners, entry.Id), Is.EqualTo("a|1|" + entry.FencingToken));
                Assert.That(entry.FencingToken, Is.GreaterThanOrEqualTo(before * 1000), "a token is never below the Redis clock in microseconds");
            }

            Assert.That(reply.Entries.Select(e => e.FencingToken), Is.Ordered.Ascending.And.Unique);
            Assert.That(await OwnedByAsync("a|1"), Is.EquivalentTo(ids));
            Assert.That(await CountOfAsync("a|1"), Is.EqualTo(3));
            Assert.That((long)await Db.StringGetAsync(Keys.Fence), Is.EqualTo(reply.Entries[^1].FencingToken));
        });
    }

    [Test]
    public async Task Read_acquire_reads_nothing_for_a_dead_session()
    {
        await OpenAsync("a|1");
        await KillAsync("a|1");
        await AnnounceAsync("x");

        var reply = await GrantAsync("a|1");

        Assert.Multiple(async () =>
        {
            Assert.That(reply.SessionLive, Is.False);
            Assert.That(reply.Entries, Is.Empty);
            Assert.That((await Db.StreamPendingAsync(Keys.Lbs, Keys.Group)).PendingMessageCount, Is.Zero, "nothing was delivered");
            Assert.That(await Db.HashLengthAsync(Keys.Owners), Is.Zero);
        });
    }

    [Test]
    public async Task Read_acquire_reads_at_most_a_thousand_entries_per_call()
    {
        await OpenAsync("a|1");
        await AnnounceManyAsync(1_005);

        var first = await Scripts.ReadAndAcquireAsync("c", "a|1", 5_000, 1000);
        var second = await Scripts.ReadAndAcquireAsync("c", "a|1", 5_000, 1000);

        Assert.Multiple(() =>
        {
            Assert.That(first.Entries, Has.Count.EqualTo(1_000));
            Assert.That(second.Entries, Has.Count.EqualTo(5));
        });
    }

    [Test]
    public async Task Read_acquire_dead_letters_an_entry_whose_name_is_live_and_grants_it_once_the_name_is_free()
    {
        await OpenAsync("a|1");
        var ids = await AnnounceAsync("same", "same", "other");

        var reply = await GrantAsync("a|1");

        Assert.Multiple(async () =>
        {
            Assert.That(reply.Entries.Select(e => e.Id), Is.EqualTo(new[] { ids[0], ids[2] }));
            Assert.That(reply.Duplicates, Is.EqualTo(new[] { new DuplicateEntry(ids[1], "same", ids[0]) }));
            Assert.That((string?)(await Db.StreamRangeAsync(Keys.Dead)).Single()["reason"], Is.EqualTo("duplicate"));
            Assert.That((string?)await Db.HashGetAsync(Keys.Names, "same"), Is.EqualTo(ids[0]));
            Assert.That(await Db.HashExistsAsync(Keys.Owners, ids[1]), Is.False);
        });

        // The first announcement finished (deleted from the LBS): the name is free for the next one.
        await Db.StreamDeleteAsync(Keys.Lbs, [ids[0]]);
        var next = await AnnounceAsync("same");
        var later = await GrantAsync("a|1");
        Assert.That(later.Entries.Select(e => e.Id), Is.EqualTo(next));
    }

    [Test]
    public async Task Tokens_never_go_backwards_when_the_fence_is_lost()
    {
        await OpenAsync("a|1");
        await AnnounceAsync("x");
        var first = (await GrantAsync("a|1")).Entries.Single().FencingToken;

        // A restart without persistence, or a promoted replica that missed the last grants: the fence is gone or old.
        await Db.KeyDeleteAsync(Keys.Fence);
        await AnnounceAsync("y");
        var afterLoss = (await GrantAsync("a|1")).Entries.Single().FencingToken;
        await Db.StringSetAsync(Keys.Fence, "1");
        await AnnounceAsync("z");
        var afterRollback = (await GrantAsync("a|1")).Entries.Single().FencingToken;

        Assert.Multiple(() =>
        {
            Assert.That(afterLoss, Is.GreaterThan(first));
            Assert.That(afterRollback, Is.GreaterThan(afterLoss));
        });
    }

    [Test]
    public async Task Claim_by_id_refuses_a_live_owner_takes_a_dead_ones_stream_and_moves_its_index_member()
    {
        await OpenAsync("old|1");
        var ids = await AnnounceAsync("x", "y");
        var granted = await GrantAsync("old|1");
        await OpenAsync("new|1");
        await OpenAsync("third|1");

        var refused = await Scripts.ClaimIdsAsync("c-new", "new|1", [ids[0]]);
        Assert.That(refused.Results.Single().Status, Is.EqualTo(ClaimStatus.Owned));
        Assert.That(refused.Results.Single().Holder, Is.EqualTo("old|1|" + granted.Entries[0].FencingToken));

        await KillAsync("old|1");
        var claimed = await Scripts.ClaimIdsAsync("c-new", "new|1", [ids[0]]);
        var stolen = await Scripts.ClaimIdsAsync("c-third", "third|1", [ids[0]]);

        Assert.Multiple(async () =>
        {
            var result = claimed.Results.Single();
            Assert.That(result.Status, Is.EqualTo(ClaimStatus.Claimed));
            Assert.That(result.Entry!.FencingToken, Is.GreaterThan(granted.Entries[0].FencingToken));
            Assert.That(result.Entry.PreviousConsumer, Is.EqualTo("old"), "the consumer that read it, as its session's record names it");
            Assert.That((string?)await Db.HashGetAsync(Keys.Owners, ids[0]), Is.EqualTo("new|1|" + result.Entry.FencingToken));
            Assert.That(await OwnedByAsync("old|1"), Is.EqualTo(new[] { ids[1] }));
            Assert.That(await CountOfAsync("old|1"), Is.EqualTo(1));
            Assert.That(await OwnedByAsync("new|1"), Is.EqualTo(new[] { ids[0] }));
            Assert.That(await CountOfAsync("new|1"), Is.EqualTo(1));
            Assert.That(stolen.Results.Single().Status, Is.EqualTo(ClaimStatus.Owned), "a live owner's stream is never taken");
        });
    }

    [Test]
    public async Task Claim_by_id_reports_a_completed_entry_as_not_found_and_a_dead_caller_claims_nothing()
    {
        await OpenAsync("a|1");
        await OpenAsync("dead|1");
        await KillAsync("dead|1");
        var ids = await AnnounceAsync("x");

        var notDelivered = await Scripts.ClaimIdsAsync("c", "a|1", [ids[0]]);
        await Db.StreamReadGroupAsync(Keys.Lbs, Keys.Group, "someone", ">");
        var deadCaller = await Scripts.ClaimIdsAsync("c", "dead|1", [ids[0]]);

        Assert.Multiple(async () =>
        {
            Assert.That(notDelivered.Results.Single().Status, Is.EqualTo(ClaimStatus.NotFound));
            Assert.That(deadCaller.SessionLive, Is.False);
            Assert.That(deadCaller.Results, Is.Empty);
            Assert.That(await Db.HashLengthAsync(Keys.Owners), Is.Zero);
        });
    }

    [Test]
    public async Task Claim_orphans_takes_a_fair_share_of_a_dead_sessions_streams_and_removes_the_session_once_empty()
    {
        await OpenAsync("dead|1");
        var ids = await AnnounceAsync(Enumerable.Range(0, 10).Select(i => "s" + i).ToArray());
        await GrantAsync("dead|1");
        await OpenAsync("a|1");
        await OpenAsync("b|1");
        await KillAsync("dead|1");

        var first = await Scripts.ClaimOrphansAsync("c-a", "a|1", 100);
        Assert.Multiple(async () =>
        {
            Assert.That(first.Results.Count(r => r.Status == ClaimStatus.Claimed), Is.EqualTo(5), "ceil(10 orphans / 2 live sessions)");
            Assert.That(first.OrphansLeft, Is.EqualTo(5));
            Assert.That(await CountOfAsync("dead|1"), Is.EqualTo(5));
            Assert.That(await Db.SortedSetScoreAsync(Keys.Sessions, "dead|1"), Is.Not.Null, "not empty yet");
        });

        // Turns alternate until nothing is left; each call takes at most its fair share: what brings the caller up to
        // ceil(10 / 2), or ceil(left / 2) when that is more.
        var turns = new[] { ("c-b", "b|1"), ("c-a", "a|1") };
        var left = first.OrphansLeft;
        var calls = 1;
        for (var turn = 0; left > 0 && turn < 20; turn++)
        {
            var (consumer, session) = turns[turn % 2];
            var owned = await CountOfAsync(session);
            var reply = await Scripts.ClaimOrphansAsync(consumer, session, 100);
            Assert.That(reply.Results.Count(r => r.Status == ClaimStatus.Claimed), Is.InRange(1, Math.Max(5 - owned, (left + 1) / 2)), "up to ceil(10 / 2) owned, or ceil(left / 2)");
            left = reply.OrphansLeft;
            calls++;
        }

        Assert.Multiple(async () =>
        {
            Assert.That(left, Is.Zero);
            Assert.That(await Db.SortedSetScoreAsync(Keys.Sessions, "dead|1"), Is.Null, "the empty dead session is gone");
            Assert.That(await Db.HashExistsAsync(Keys.Counts, "dead|1"), Is.False);
            Assert.That((await OwnedByAsync("a|1")).Concat(await OwnedByAsync("b|1")), Is.EquivalentTo(ids), "each stream has exactly one new owner");
            Assert.That(await CountOfAsync("a|1") + await CountOfAsync("b|1"), Is.EqualTo(10));
            Assert.That(await CountOfAsync("b|1"), Is.EqualTo(5), "each takes its whole share: an even split");
            Assert.That(calls, Is.EqualTo(2), "in one call each");
        });
    }

    [Test]
    public async Task Claim_orphans_works_on_at_most_a_thousand_streams_per_call_and_within_free_capacity()
    {
        await OpenAsync("dead|1");
        await AnnounceManyAsync(1_500);
        await GrantAsync("dead|1");
        await GrantAsync("dead|1");
        await OpenAsync("a|1");
        await KillAsync("dead|1");

        var small = await Scripts.ClaimOrphansAsync("c", "a|1", 7);
        var big = await Scripts.ClaimOrphansAsync("c", "a|1", 100_000);
        var rest = await Scripts.ClaimOrphansAsync("c", "a|1", 100_000);

        Assert.Multiple(async () =>
        {
            Assert.That(small.Results, Has.Count.EqualTo(7), "never more than the free capacity");
            Assert.That(big.Results, Has.Count.EqualTo(1_000), "never more than 1,000 per call");
            Assert.That(rest.Results, Has.Count.EqualTo(493));
            Assert.That(rest.OrphansLeft, Is.Zero);
            Assert.That(await CountOfAsync("a|1"), Is.EqualTo(1_500));
            Assert.That(await Db.SortedSetScoreAsync(Keys.Sessions, "dead|1"), Is.Null);
        });
    }

    [Test]
    public async Task Claim_orphans_takes_released_streams_from_the_free_now_index_and_reports_the_next_deadline_of_another_session()
    {
        await OpenAsync("a|1");
        var other = await Scripts.OpenSessionAsync("b|1", TimeSpan.FromSeconds(7));
        var ids = await AnnounceAsync("x");
        var granted = await GrantAsync("b|1");
        var released = await Scripts.ReleaseAsync("b|1", [(ids[0], "b|1|" + granted.Entries[0].FencingToken)]);
        Assert.That(released, Is.EqualTo(ids));

        var reply = await Scripts.ClaimOrphansAsync("c", "a|1", 10);

        Assert.Multiple(async () =>
        {
            Assert.That(reply.Results.Single().Status, Is.EqualTo(ClaimStatus.Claimed));
            Assert.That(await Db.SortedSetLengthAsync(Keys.Free), Is.Zero);
            Assert.That(reply.MillisecondsUntilNextDeadline, Is.InRange(0, other.DeadlineMs - reply.ServerNowMs), "the earliest deadline of a session other than the caller's");
        });
    }

    [Test]
    public async Task Find_orphans_frees_a_dead_sessions_streams_and_lists_them_on_every_call_until_claimed()
    {
        await OpenAsync("dead|1");
        var ids = await AnnounceAsync("x", "y", "z");
        await GrantAsync("dead|1");
        await KillAsync("dead|1");

        var firstPage = await Scripts.FindOrphansAsync(null, 0, 2);
        var secondPage = await Scripts.FindOrphansAsync(null, firstPage.NextOffset, 2);
        var again = await Scripts.FindOrphansAsync(null, 0, 10);

        Assert.Multiple(async () =>
        {
            Assert.That(firstPage.Entries, Has.Count.EqualTo(2), "bounded by max");
            Assert.That(firstPage.NextOffset, Is.EqualTo(2));
            Assert.That(firstPage.Entries.Concat(secondPage.Entries).Select(e => e.Id), Is.EquivalentTo(ids));
            Assert.That(secondPage.NextOffset, Is.Zero, "the end of the index");
            Assert.That(again.Entries.Select(e => e.Id), Is.EquivalentTo(ids), "listed again: nobody claimed them");
            Assert.That(await Db.HashLengthAsync(Keys.Owners), Is.Zero, "the dead session's records are gone");
            Assert.That(await Db.SortedSetScoreAsync(Keys.Sessions, "dead|1"), Is.Null, "and the session with them");
        });

        await OpenAsync("a|1");
        await Scripts.ClaimIdsAsync("c", "a|1", [ids[0]]);
        var afterClaim = await Scripts.FindOrphansAsync("a|1", 0, 10);
        Assert.That(afterClaim.Entries.Select(e => e.Id), Is.EquivalentTo(ids[1..]), "a claimed stream is no longer listed");
    }

    [Test]
    public async Task Reconcile_frees_pending_entries_without_a_record_or_whose_session_is_gone_and_leaves_live_owners_alone()
    {
        await OpenAsync("live|1");
        await OpenAsync("gone|1");
        var ids = await AnnounceAsync("live", "gone", "orphan");
        await GrantAsync("live|1", 1);
        await GrantAsync("gone|1", 1);
        await Db.StreamReadGroupAsync(Keys.Lbs, Keys.Group, "other-client", ">");
        await Db.SortedSetRemoveAsync(Keys.Sessions, "gone|1");

        var page = await Scripts.ReconcilePageAsync("-", 100, TimeSpan.Zero);

        Assert.Multiple(async () =>
        {
            Assert.That(page.Seen, Is.EqualTo(3));
            Assert.That(page.Repaired, Is.EqualTo(2));
            Assert.That((await Db.SortedSetRangeByRankAsync(Keys.Free)).Select(v => (string)v!), Is.EquivalentTo(ids[1..]));
            Assert.That(await Db.HashExistsAsync(Keys.Owners, ids[1]), Is.False, "the record of a session that is gone is removed");
            Assert.That(await Db.HashExistsAsync(Keys.Owners, ids[0]), Is.True, "a live owner keeps its stream");
        });
    }

    [Test]
    public async Task Reconcile_totals_agree_when_every_pending_entry_is_owned_or_free_and_disagree_for_an_orphan_or_a_vanished_owner()
    {
        await OpenAsync("live|1");
        await OpenAsync("gone|1");
        var ids = await AnnounceAsync("a", "b", "c", "d");
        await GrantAsync("live|1", 2);
        await GrantAsync("gone|1", 1);
        var consistent = await Scripts.ReadPendingTotalsAsync();

        // An entry delivered by another client: pending, with no record and not free.
        await Db.StreamReadGroupAsync(Keys.Lbs, Keys.Group, "other-client", ">", 1);
        var orphan = await Scripts.ReadPendingTotalsAsync();

        // Repaired by a pass: agree again. Then the owning session vanishes (lost control keys).
        await Scripts.ReconcilePageAsync("-", 100, TimeSpan.Zero);
        var repaired = await Scripts.ReadPendingTotalsAsync();
        await Db.SortedSetRemoveAsync(Keys.Sessions, "gone|1");
        var vanished = await Scripts.ReadPendingTotalsAsync();

        Assert.Multiple(() =>
        {
            Assert.That(consistent, Is.EqualTo(new PendingTotals(3, 3, 0, 0)), "three granted entries, three records");
            Assert.That(consistent.Agree, Is.True);
            Assert.That(orphan, Is.EqualTo(new PendingTotals(4, 3, 0, 0)), "the orphan is pending without a record");
            Assert.That(orphan.Agree, Is.False);
            Assert.That(repaired, Is.EqualTo(new PendingTotals(4, 3, 1, 0)), "the pass put the orphan in the free-now index");
            Assert.That(repaired.Agree, Is.True);
            Assert.That(vanished.MissingSessions, Is.EqualTo(1), "a count names a session that no longer exists");
            Assert.That(vanished.Agree, Is.False);
            Assert.That(ids, Has.Length.EqualTo(4));
        });
    }

    [Test]
    public async Task Reconcile_totals_report_a_missing_group_as_unknown()
    {
        await Db.StreamAddAsync(Keys.Lbs, "lbs-input", "{}");
        var totals = await Scripts.ReadPendingTotalsAsync();
        Assert.That(totals.Pending, Is.EqualTo(-1));
        Assert.That(totals.Agree, Is.False);
    }
}
