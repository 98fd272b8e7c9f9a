using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using RecoverableStreams.Diagnostics;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Leasing;
using RecoverableStreams.Rebalancing;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Rebalancing;

/// <summary>
/// <see cref="ServiceLoad"/>: the fair-share reading a scheduler claims by. A reading is shared for a moment (50 ms),
/// but never past the deadline of a session it counts: after a crash, the survivors' first claims must see the dead
/// session gone, or each takes too small a share and the rest waits a whole lease for the next wake-up.
/// </summary>
public sealed class ServiceLoadTests : SharedRedisTest
{
    [Test]
    public async Task A_reading_that_counts_a_session_past_its_deadline_is_read_again()
    {
        // The peer's deadline must fall inside the reading's 50 ms of sharing: a short lease, and a new try when a slow
        // moment let it die before the first reading.
        for (var attempt = 1; ; attempt++)
        {
            var options = TestOptions.For(autoClaim: true);
            var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
            var context = new ClientContext(Redis, options, NullLogger.Instance, time, options.ConsumerId!, "i", new CoreMetrics(null, false), CancellationToken.None);
            var scripts = context.Partitions[0].Scripts;
            var keys = context.Partitions[0].Keys;
            var db = Redis.GetDatabase();
            var me = new LeaseSession(options.ConsumerId + "|me", long.MaxValue, 0);
            Assert.That((await scripts.OpenSessionAsync(me.Id, TimeSpan.FromSeconds(30))).Accepted, Is.True);
            // Ten streams that need an owner, and a peer with room whose deadline comes in 40 ms (it just crashed).
            await db.SortedSetAddAsync(keys.Free, Enumerable.Range(1, 10).Select(i => new SortedSetEntry("0-" + i, 0)).ToArray());
            await db.HashSetAsync(keys.Capacities, "peer|1", 100);
            var peerDeadline = (await scripts.OpenSessionAsync("peer|1", TimeSpan.FromMilliseconds(40))).DeadlineMs;
            var load = new ServiceLoad(context);

            var before = (await load.ClaimBudgetAsync(me, 100, context.Partitions[0])).Limit;
            if (before != 5)
            {
                Assert.That(attempt, Is.LessThan(5), "the peer was never seen live: the box is too slow for a 40 ms lease");
                continue;
            }

            // The peer's deadline passes in Redis while the reading is still younger than its 50 ms of sharing.
            Assert.That(await Eventually.TrueAsync(async () => await Ownership.ServerNowMsAsync(db) > peerDeadline, TimeSpan.FromSeconds(5)), Is.True, "the peer's deadline passed");
            time.Advance(TimeSpan.FromMilliseconds(49));

            Assert.That((await load.ClaimBudgetAsync(me, 100, context.Partitions[0])).Limit, Is.EqualTo(10), "the peer is dead: this consumer's share is every stream");
            return;
        }
    }
}
