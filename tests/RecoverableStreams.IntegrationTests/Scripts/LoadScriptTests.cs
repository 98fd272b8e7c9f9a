namespace RecoverableStreams.IntegrationTests.Scripts;

/// <summary>
/// <c>loads.lua</c>: the rebalancer's read of one partition. Lists live sessions only, with their counts (and
/// capacities in partition 0), counts every stream that needs an owner (records of live and dead sessions, free
/// streams), and cleans capacities of sessions that ended in bounded pages.
/// </summary>
public sealed class LoadScriptTests : ScriptTest
{
    [Test]
    public async Task Lists_live_sessions_with_counts_and_capacities_and_totals_owned_dead_and_free_streams()
    {
        await OpenAsync("a|1");
        await OpenAsync("b|1");
        await OpenAsync("dead|1");
        await AnnounceManyAsync(6);
        var a = await GrantAsync("a|1", 3);
        var dead = await GrantAsync("dead|1", 2);
        var b = await GrantAsync("b|1", 1);
        var granted = a.Entries.Count + dead.Entries.Count + b.Entries.Count;
        Assert.That(a.Entries.Count, Is.GreaterThanOrEqualTo(2), "read_acquire grants a fair share of the backlog");
        Assert.That((dead.Entries.Count, b.Entries.Count), Is.EqualTo((2, 1)));
        await KillAsync("dead|1");
        // One of a's streams goes back to the free-now index: still a stream that needs an owner.
        var released = await Scripts.ReleaseAsync("a|1", [(a.Entries[0].Id, "a|1|" + a.Entries[0].FencingToken)]);
        Assert.That(released, Has.Count.EqualTo(1));

        var withCapacity = await Scripts.ReadLoadAsync("a|1", 50);
        var plain = await Scripts.ReadLoadAsync("b|1", null);

        Assert.Multiple(() =>
        {
            Assert.That(withCapacity.Total, Is.EqualTo(granted), "records of a, b and the dead session, and the free one; not the undelivered backlog");
            Assert.That(withCapacity.Sessions, Is.EquivalentTo(new[] { ("a|1", a.Entries.Count - 1, 50), ("b|1", 1, -1) }), "live sessions only; b never said its capacity");
            Assert.That(plain.Sessions, Is.EquivalentTo(new[] { ("a|1", a.Entries.Count - 1, -1), ("b|1", 1, -1) }), "without the capacities key, no capacity and no write");
            Assert.That(withCapacity.MillisecondsUntilFirstDeadline, Is.InRange(Lease.TotalMilliseconds - 5_000, Lease.TotalMilliseconds), "until the earliest live deadline: a's or b's, opened a moment ago");
        });
        Assert.That((int)await Db.HashGetAsync(Keys.Capacities, "a|1"), Is.EqualTo(50));
    }

    [Test]
    public async Task The_reading_says_when_its_first_live_session_may_die()
    {
        Assert.That((await Scripts.ReadLoadAsync("nobody|1", null)).MillisecondsUntilFirstDeadline, Is.EqualTo(-1), "no live session");
        await OpenAsync("long|1");
        await OpenAsync("short|1", TimeSpan.FromSeconds(3));
        await OpenAsync("dead|1");
        await KillAsync("dead|1");

        var reply = await Scripts.ReadLoadAsync("long|1", null);

        Assert.That(reply.MillisecondsUntilFirstDeadline, Is.InRange(1, 3_000), "the short session's deadline; the dead one is not live");
    }

    [Test]
    public async Task Capacities_of_ended_sessions_are_dropped_once_they_outnumber_live_ones_by_a_hundred()
    {
        await OpenAsync("live|1");
        var stale = Enumerable.Range(0, 150).Select(i => new StackExchange.Redis.HashEntry("gone|" + i, 10)).ToArray();
        await Db.HashSetAsync(Keys.Capacities, stale);

        await Scripts.ReadLoadAsync("live|1", 20);

        var left = await Db.HashKeysAsync(Keys.Capacities);
        Assert.That(left.Select(k => (string)k!), Is.EqualTo(new[] { "live|1" }), "one bounded scan page cleans 151 entries");
    }
}
