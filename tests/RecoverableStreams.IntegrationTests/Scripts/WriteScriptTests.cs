using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Scripts;

/// <summary>
/// The ownership-checked writes (<c>checkpoint.lua</c>, <c>record_attempt.lua</c>, <c>complete.lua</c>,
/// <c>dead_letter.lua</c>, <c>release.lua</c>) and <c>add_stream.lua</c>: each accepts only the record's session and
/// token, and only while that session is live.
/// </summary>
[Parallelizable(ParallelScope.Self)]
public sealed class WriteScriptTests : ScriptTest
{
    private async Task<(string Id, string Record)> OwnedStreamAsync(string session, string name = "x")
    {
        await OpenAsync(session);
        var ids = await AnnounceAsync(name);
        var token = (await GrantAsync(session)).Entries.Single().FencingToken;
        return (ids[0], session + "|" + token);
    }

    [Test]
    public async Task Checkpoint_is_stored_for_the_owner_refused_for_another_token_and_refused_once_the_session_is_dead()
    {
        var (id, record) = await OwnedStreamAsync("a|1");

        var stored = await Scripts.CheckpointAsync(id, "a|1", record, "1-0", "s"u8.ToArray(), 1);
        var wrongToken = await Scripts.CheckpointAsync(id, "a|1", "a|1|1", "2-0", default, 1);
        await KillAsync("a|1");
        var late = await Scripts.CheckpointAsync(id, "a|1", record, "3-0", default, 1);

        Assert.Multiple(async () =>
        {
            Assert.That(stored, Is.EqualTo(WriteOutcome.Done));
            Assert.That(wrongToken, Is.EqualTo(WriteOutcome.NotOwner));
            Assert.That(late, Is.EqualTo(WriteOutcome.SessionDead), "a late write of a dead session is refused even though the record still names it");
            Assert.That((string?)await Db.HashGetAsync(Keys.Checkpoint(id), "pos"), Is.EqualTo("1-0"));
        });
    }

    [Test]
    public async Task Record_attempt_counts_for_the_owner_only_while_its_session_is_live()
    {
        var (id, record) = await OwnedStreamAsync("a|1");

        var first = await Scripts.RecordAttemptAsync(id, "a|1", record);
        var other = await Scripts.RecordAttemptAsync(id, "b|1", "b|1|9");
        await KillAsync("a|1");
        var late = await Scripts.RecordAttemptAsync(id, "a|1", record);

        Assert.Multiple(async () =>
        {
            Assert.That(first, Is.EqualTo((WriteOutcome.Done, 1L)));
            Assert.That(other.Outcome, Is.EqualTo(WriteOutcome.SessionDead), "an unknown session is not live");
            Assert.That(late.Outcome, Is.EqualTo(WriteOutcome.SessionDead));
            Assert.That((long)await Db.HashGetAsync(Keys.Attempts, id), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Complete_removes_every_trace_of_the_stream_and_refuses_a_stale_token_or_a_dead_session()
    {
        var (id, record) = await OwnedStreamAsync("a|1", "done-name");
        await Scripts.CheckpointAsync(id, "a|1", record, "1-0", default, 1);
        await Scripts.RecordAttemptAsync(id, "a|1", record);

        Assert.That(await Scripts.CompleteAsync(id, "a|1", "a|1|1", "done-name"), Is.EqualTo(WriteOutcome.NotOwner));
        var done = await Scripts.CompleteAsync(id, "a|1", record, "done-name");

        Assert.Multiple(async () =>
        {
            Assert.That(done, Is.EqualTo(WriteOutcome.Done));
            Assert.That(await Db.StreamLengthAsync(Keys.Lbs), Is.Zero);
            Assert.That((await Db.StreamPendingAsync(Keys.Lbs, Keys.Group)).PendingMessageCount, Is.Zero);
            Assert.That(await Db.HashExistsAsync(Keys.Owners, id), Is.False);
            Assert.That(await OwnedByAsync("a|1"), Is.Empty);
            Assert.That(await CountOfAsync("a|1"), Is.Zero);
            Assert.That(await Db.KeyExistsAsync(Keys.Checkpoint(id)), Is.False);
            Assert.That(await Db.HashExistsAsync(Keys.Attempts, id), Is.False);
            Assert.That(await Db.HashExistsAsync(Keys.Names, "done-name"), Is.False);
        });

        var (other, otherRecord) = await OwnedStreamAsync("b|1", "kept");
        await KillAsync("b|1");
        Assert.That(await Scripts.CompleteAsync(other, "b|1", otherRecord, "kept"), Is.EqualTo(WriteOutcome.SessionDead));
        Assert.That(await Db.StreamLengthAsync(Keys.Lbs), Is.EqualTo(1), "a dead session's completion deletes nothing");
    }

    [Test]
    public async Task Completing_again_after_the_completion_took_effect_answers_done_and_a_released_stream_is_not_owned()
    {
        // The retry of a completion whose reply could not be trusted (no replica acknowledged it) must not turn into
        // "ownership lost" when the first call did take effect; a stream merely released is still there to be taken.
        var (id, record) = await OwnedStreamAsync("a|1", "twice");
        var other = (await AnnounceAsync("released"))[0];
        var otherRecord = "a|1|" + (await GrantAsync("a|1")).Entries.Single().FencingToken;
        Assert.That(await Scripts.ReleaseAsync("a|1", [(other, otherRecord)]), Has.Count.EqualTo(1));

        var first = await Scripts.CompleteAsync(id, "a|1", record, "twice");
        var again = await Scripts.CompleteAsync(id, "a|1", record, "twice");
        var released = await Scripts.CompleteAsync(other, "a|1", otherRecord, "released");

        Assert.Multiple(async () =>
        {
            Assert.That(first, Is.EqualTo(WriteOutcome.Done));
            Assert.That(again, Is.EqualTo(WriteOutcome.Done), "the entry and its record are gone: completed already");
            Assert.That(released, Is.EqualTo(WriteOutcome.NotOwner), "the entry is still there: not completed, not the caller's");
            Assert.That(await Db.StreamLengthAsync(Keys.Lbs), Is.EqualTo(1), "only the released stream's entry is left");
        });
    }

    [Test]
    public async Task Dead_letter_moves_the_entry_for_the_owner_and_refuses_a_dead_session()
    {
        var (id, record) = await OwnedStreamAsync("a|1", "poison");
        var (other, otherRecord) = await OwnedStreamAsync("b|1", "kept");
        await KillAsync("b|1");

        var (outcome, deadId) = await Scripts.DeadLetterAsync(id, "a|1", record, "poison", "bad data", "c", 100);
        var late = await Scripts.DeadLetterAsync(other, "b|1", otherRecord, "kept", "late", "c", 100);

        Assert.Multiple(async () =>
        {
            Assert.That(outcome, Is.EqualTo(WriteOutcome.Done));
            Assert.That(deadId, Is.Not.Null);
            Assert.That((string?)(await Db.StreamRangeAsync(Keys.Dead)).Single()["reason"], Is.EqualTo("bad data"));
            Assert.That(await Db.HashExistsAsync(Keys.Names, "poison"), Is.False);
            Assert.That(await CountOfAsync("a|1"), Is.Zero);
            Assert.That(late.Outcome, Is.EqualTo(WriteOutcome.SessionDead));
            Assert.That(await Db.StreamLengthAsync(Keys.Dead), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Release_refuses_a_record_that_names_another_live_session_even_when_the_caller_passes_it_exactly()
    {
        // GrantRepair reads a session's index members, then their records in a second command: a claim in between can
        // leave it holding a peer's record under its own index member. Passing that record must not free the peer's
        // stream (seed 6 of the randomized checker: a handler ran on while a third consumer was granted its stream).
        await OpenAsync("a|1");
        var (id, peerRecord) = await OwnedStreamAsync("b|1", "peers");

        var released = await Scripts.ReleaseAsync("a|1", [(id, peerRecord)]);

        Assert.Multiple(async () =>
        {
            Assert.That(released, Is.Empty, "the record names b|1, not the caller");
            Assert.That((string?)await Db.HashGetAsync(Keys.Owners, id), Is.EqualTo(peerRecord), "the peer's record stays");
            Assert.That(await Db.SortedSetLengthAsync(Keys.Free), Is.Zero, "nothing entered the free-now index");
            Assert.That(await OwnedByAsync("b|1"), Is.EqualTo(new[] { id }));
        });
    }

    [Test]
    public async Task Release_frees_only_the_callers_current_records_and_nothing_for_a_dead_session()
    {
        await OpenAsync("a|1");
        var ids = await AnnounceAsync("x", "y");
        var tokens = (await GrantAsync("a|1")).Entries.Select(e => e.FencingToken).ToArray();
        await OpenAsync("b|1");
        var other = (await AnnounceAsync("z"))[0];
        var otherRecord = "b|1|" + (await GrantAsync("b|1")).Entries.Single().FencingToken;

        var released = await Scripts.ReleaseAsync("a|1", [(ids[0], "a|1|" + tokens[0]), (ids[1], "a|1|1")]);
        await KillAsync("b|1");
        var late = await Scripts.ReleaseAsync("b|1", [(other, otherRecord)]);

        Assert.Multiple(async () =>
        {
            Assert.That(released, Is.EqualTo(new[] { ids[0] }), "a stale token releases nothing");
            Assert.That((await Db.SortedSetRangeByRankAsync(Keys.Free)).Select(v => (string)v!), Is.EqualTo(new[] { ids[0] }));
            Assert.That(await OwnedByAsync("a|1"), Is.EqualTo(new[] { ids[1] }));
            Assert.That(await CountOfAsync("a|1"), Is.EqualTo(1));
            Assert.That(late, Is.Empty, "a dead session releases nothing: its streams go through the dead-session takeover");
            Assert.That(await Db.HashExistsAsync(Keys.Owners, other), Is.True);
        });
        Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Scripts.ReleaseAsync("a|1", Enumerable.Range(0, 1_001).Select(i => ("id" + i, "v")).ToArray()), "at most 1,000 per call");
    }

    [Test]
    public async Task Add_stream_returns_the_live_entry_of_a_name_and_adds_anew_once_it_is_gone()
    {
        var (first, added) = await Scripts.AddStreamAsync("n", "lbs-input", """{"DataStreamName":"n"}""");
        var (again, addedAgain) = await Scripts.AddStreamAsync("n", "lbs-input", """{"DataStreamName":"n"}""");
        await Db.StreamDeleteAsync(Keys.Lbs, [first]);
        var (fresh, addedFresh) = await Scripts.AddStreamAsync("n", "lbs-input", """{"DataStreamName":"n"}""");

        Assert.Multiple(async () =>
        {
            Assert.That(added, Is.True);
            Assert.That((again, addedAgain), Is.EqualTo((first, false)));
            Assert.That(addedFresh, Is.True);
            Assert.That(fresh, Is.Not.EqualTo(first));
            Assert.That((string?)await Db.HashGetAsync(Keys.Names, "n"), Is.EqualTo(fresh));
        });
    }
}
