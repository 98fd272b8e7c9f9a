using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Scripts;

/// <summary><c>open_session.lua</c>, <c>renew.lua</c> and <c>close_session.lua</c>: KEYS/ARGV contract, refusals, bounds.</summary>
[Parallelizable(ParallelScope.Self)]
public sealed class SessionScriptTests : ScriptTest
{
    [Test]
    public async Task Open_session_sets_a_deadline_one_lease_from_the_redis_clock_and_never_reopens_an_existing_id()
    {
        var before = await ServerNowMsAsync();
        var opened = await Scripts.OpenSessionAsync("a|1", Lease);
        var again = await Scripts.OpenSessionAsync("a|1", TimeSpan.FromHours(1));

        Assert.Multiple(async () =>
        {
            Assert.That(opened.DeadlineMs, Is.EqualTo(opened.ServerNowMs + (long)Lease.TotalMilliseconds));
            Assert.That(opened.ServerNowMs, Is.GreaterThanOrEqualTo(before));
            Assert.That(again.Accepted, Is.False, "an existing id is refused");
            Assert.That(await Db.SortedSetScoreAsync(Keys.Sessions, "a|1"), Is.EqualTo(opened.DeadlineMs), "and its deadline is unchanged");
        });
    }

    [Test]
    public async Task Renew_extends_a_live_session_and_touches_nothing_else()
    {
        await OpenAsync("a|1", TimeSpan.FromSeconds(5));
        var ids = await AnnounceAsync("x", "y");
        await GrantAsync("a|1");
        var ownersBefore = await Db.HashGetAllAsync(Keys.Owners);

        var renewed = await Scripts.RenewAsync("a|1", Lease);

        Assert.Multiple(async () =>
        {
            Assert.That(renewed.Accepted, Is.True);
            Assert.That(renewed.DeadlineMs, Is.EqualTo(renewed.ServerNowMs + (long)Lease.TotalMilliseconds));
            Assert.That(await Db.SortedSetScoreAsync(Keys.Sessions, "a|1"), Is.EqualTo(renewed.DeadlineMs));
            Assert.That(await Db.HashGetAllAsync(Keys.Owners), Is.EquivalentTo(ownersBefore), "the records of its streams are not touched");
            Assert.That(await OwnedByAsync("a|1"), Is.EquivalentTo(ids));
        });
    }

    [Test]
    public async Task Renew_returns_how_many_streams_redis_records_for_the_session()
    {
        await OpenAsync("a|1", TimeSpan.FromSeconds(5));
        await OpenAsync("b|1", TimeSpan.FromSeconds(5));
        var empty = await Scripts.RenewAsync("a|1", Lease);
        await AnnounceAsync("x", "y", "z");
        await GrantAsync("a|1");

        var renewed = await Scripts.RenewAsync("a|1", Lease);
        var other = await Scripts.RenewAsync("b|1", Lease);
        var refused = await Scripts.RenewAsync("ghost|1", Lease);

        Assert.Multiple(async () =>
        {
            Assert.That(empty.OwnedCount, Is.Zero, "nothing granted yet");
            // Two live sessions: the grant takes its fair share (2 of 3).
            Assert.That(renewed.OwnedCount, Is.EqualTo(2).And.EqualTo((await OwnedByAsync("a|1")).Length), "the session's count, as its index holds it");
            Assert.That(other.OwnedCount, Is.Zero, "another session's streams are not counted");
            Assert.That(refused.OwnedCount, Is.Zero);
        });
    }

    [Test]
    public async Task Renew_refuses_a_missing_session_and_never_creates_it()
    {
        var reply = await Scripts.RenewAsync("ghost|1", Lease);

        Assert.That(reply.Accepted, Is.False);
        Assert.That(await Db.SortedSetScoreAsync(Keys.Sessions, "ghost|1"), Is.Null);
    }

    [Test]
    public async Task A_dead_session_stays_dead_renew_refuses_it_and_leaves_its_deadline_in_the_past()
    {
        await OpenAsync("a|1", TimeSpan.FromMilliseconds(50));
        await Infrastructure.Eventually.AssertAsync(async () => await ServerNowMsAsync() > (long)(await Db.SortedSetScoreAsync(Keys.Sessions, "a|1"))!, TimeSpan.FromSeconds(5), "the deadline passes");
        var deadline = await Db.SortedSetScoreAsync(Keys.Sessions, "a|1");

        var reply = await Scripts.RenewAsync("a|1", Lease);

        Assert.Multiple(async () =>
        {
            Assert.That(reply.Accepted, Is.False, "a session past its deadline is not revived");
            Assert.That(await Db.SortedSetScoreAsync(Keys.Sessions, "a|1"), Is.EqualTo(deadline), "its deadline stays in the past");
        });
    }

    [Test]
    public async Task Close_session_removes_an_empty_session_and_marks_one_that_still_owns_streams_dead_at_once()
    {
        await OpenAsync("empty|1");
        await OpenAsync("busy|1");
        await AnnounceAsync("x");
        await GrantAsync("busy|1");

        Assert.Multiple(async () =>
        {
            Assert.That(await Scripts.CloseSessionAsync("empty|1"), Is.EqualTo(CloseOutcome.Removed));
            Assert.That(await Db.SortedSetScoreAsync(Keys.Sessions, "empty|1"), Is.Null);
            Assert.That(await Scripts.CloseSessionAsync("busy|1"), Is.EqualTo(CloseOutcome.MarkedDead));
            Assert.That(await Db.SortedSetScoreAsync(Keys.Sessions, "busy|1"), Is.EqualTo(0), "dead now: peers take its streams without waiting");
            Assert.That(await Scripts.CloseSessionAsync("never|1"), Is.EqualTo(CloseOutcome.Missing));
        });
    }
}
