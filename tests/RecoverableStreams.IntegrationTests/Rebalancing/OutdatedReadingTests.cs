using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using RecoverableStreams.Diagnostics;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Leasing;
using RecoverableStreams.Rebalancing;
using RecoverableStreams.Recovery;

namespace RecoverableStreams.IntegrationTests.Rebalancing;

/// <summary>
/// The failover path's claims against a load reading that a death made outdated. After a crash a survivor may wake a
/// millisecond early by its own clock, read the load while the dead session still counts as live, and claim a moment
/// later when it is dead: the reading's limit counted one consumer too many. Seen in the 10,000-stream failover
/// benchmark: one survivor of three took 2,500 streams instead of 3,334, and the 832 left waited 1.9 s for the next
/// wake-up.
/// </summary>
public sealed class OutdatedReadingTests : SharedRedisTest
{
    [Test]
    public async Task A_claim_that_ran_after_a_session_the_reading_counted_had_died_reads_the_load_again_and_takes_the_rest_at_once()
    {
        // The peer's deadline must fall after the first reading: a short lease, and a new try when a slow moment let it
        // die first.
        for (var attempt = 1; ; attempt++)
        {
            using var stop = new CancellationTokenSource();
            var options = TestOptions.For(autoClaim: true, lease: TimeSpan.FromSeconds(30));
            // This process's clock stands still: the reading never expires by it, as when the wake came a moment early.
            var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
            var context = new ClientContext(Redis, options, NullLogger.Instance, time, options.ConsumerId!, "i", new CoreMetrics(null, false), stop.Token);
            var leases = new LeaseOperations(context);
            var claimCalls = new ClaimCallBudget(context.RenewInterval);
            var consumerSession = context.CreateSession(leases, claimCalls);
            var partition = context.Partitions[0];
            var db = Redis.GetDatabase();
            // Ten released streams wait in the free-now index (released before this consumer's session opens, so the
            // old owner's read is not capped by a fair share that counts it).
            var publisher = new StreamPublisher(Redis, options);
            for (var i = 0; i < 10; i++)
            {
                await publisher.AddStreamAsync($"device-{i}");
            }

            Assert.That((await partition.Scripts.OpenSessionAsync("old|1", TimeSpan.FromSeconds(30))).Accepted, Is.True);
            var granted = (await partition.Scripts.ReadAndAcquireAsync("old", "old|1", 10, 1000)).Entries;
            Assert.That(granted, Has.Count.EqualTo(10));
            await partition.Scripts.ReleaseManyAsync("old|1", granted.Select(e => (e.Id, "old|1|" + e.FencingToken)).ToArray());
            await partition.Scripts.CloseSessionAsync("old|1");
            Assert.That(await db.SortedSetLengthAsync(partition.Keys.Free), Is.EqualTo(10), "ten streams need an owner");

            var sessionLoop = Task.Run(consumerSession.RunAsync);
            Task? schedulerLoop = null;
            try
            {
                await Eventually.AssertAsync(() => context.Session.Current is not null, TimeSpan.FromSeconds(10), "the consumer's session opened");
                var me = context.Session.Current!;

                // A peer with room, whose deadline comes in 40 ms (it just crashed); the reading counts it: five each.
                await db.HashSetAsync(partition.Keys.Capacities, "peer|1", 100);
                var peerDeadline = (await partition.Scripts.OpenSessionAsync("peer|1", TimeSpan.FromMilliseconds(40))).DeadlineMs;
                var load = new ServiceLoad(context);
                if ((await load.ClaimBudgetAsync(me, 100, partition)).Limit != 5)
                {
                    Assert.That(attempt, Is.LessThan(5), "the peer was never seen live: the box is too slow for a 40 ms lease");
                    continue;
                }

                // The peer dies in Redis; then the scheduler wakes with the reading it shares (still counting the peer).
                Assert.That(await Eventually.TrueAsync(async () => await Ownership.ServerNowMsAsync(db) > peerDeadline, TimeSpan.FromSeconds(5)), Is.True, "the peer's deadline passed");
                schedulerLoop = Task.Run(new DeadlineScheduler(context, partition, leases, load, claimCalls).RunAsync);

                // Its claim ran on a load without the peer: the reading is read again, and the other five are taken at
                // once, not at the next wake-up (which this standing clock would never bring).
                var owned = await Eventually.TrueAsync(() => context.Registry.Count == 10, TimeSpan.FromSeconds(10));
                Assert.That(owned, Is.True, $"all ten owned by the only live consumer; owned {context.Registry.Count}");
                Assert.That(await db.SortedSetLengthAsync(partition.Keys.Free), Is.Zero, "none left waiting");
                return;
            }
            finally
            {
                await stop.CancelAsync();
                await Task.WhenAll(new[] { sessionLoop, schedulerLoop ?? Task.CompletedTask }).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }
}
