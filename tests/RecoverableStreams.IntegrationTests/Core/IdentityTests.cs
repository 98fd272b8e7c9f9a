using System.Collections.Concurrent;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>Who owns a stream: consumer ids shared by two processes, and fencing tokens across owners.</summary>
[Parallelizable(ParallelScope.Self)]
public sealed class IdentityTests : SharedRedisTest
{
    [Test]
    public async Task Two_clients_with_the_same_ConsumerId_never_both_own_a_stream_across_crashes_and_claims()
    {
        const string sharedId = "reused-pod-name";
        var service = TestOptions.NewServiceName();
        var options = () => TestOptions.For(service, consumerId: sharedId, autoClaim: true);
        var keys = StreamKeys.For(options());
        var db = Redis.GetDatabase();
        var live = new ConcurrentDictionary<TestConsumer, bool>();
        var all = new List<TestConsumer>();
        async Task<TestConsumer> StartTwinAsync()
        {
            var twin = await TestConsumer.StartAsync(Redis, options());
            all.Add(twin);
            live[twin] = true;
            return twin;
        }

        try
        {
            await StartTwinAsync();
            await StartTwinAsync();
            var id = await new StreamPublisher(Redis, options()).AddStreamAsync("shared-id-session");
            var info = new LbsInfo("shared-id-session", id);

            // Observe continuously: at no instant may two clients own the entry.
            var worst = 0;
            using var stopObserving = new CancellationTokenSource();
            var observer = Task.Run(async () =>
            {
                while (!stopObserving.IsCancellationRequested)
                {
                    var owners = live.Keys.Count(c => c.Owned.Any(l => l.IdInLbs == id && l.IsOwned));
                    worst = Math.Max(worst, owners);
                    await Task.Delay(5);
                }
            });

            var leaseValues = new List<string>();
            for (var handover = 0; handover < 3; handover++)
            {
                TestConsumer? owner = null;
                await Eventually.AssertAsync(() => (owner = live.Keys.FirstOrDefault(c => c.Owned.Any(l => l.IdInLbs == id))) is not null,
                    TimeSpan.FromSeconds(20), $"one live twin owns the stream (handover {handover})");
                var lease = owner!.Owned.Single(l => l.IdInLbs == id);
                var stored = (string?)await db.HashGetAsync(keys.Owners, id);
                Assert.That(stored, Is.EqualTo(lease.LeaseValue), "Redis holds the owner's lease value");
                leaseValues.Add(stored!);

                // The twin shares the consumer id but not the lease: it cannot take the stream while the lease lives.
                var twin = live.Keys.First(c => c != owner);
                Assert.ThrowsAsync<StreamAlreadyClaimedException>(() => twin.Client.ClaimAsync(info));

                await StartTwinAsync();
                live.TryRemove(owner, out _);
                await owner.CrashAsync();
            }

            await Eventually.AssertAsync(() => live.Keys.Any(c => c.Owned.Any(l => l.IdInLbs == id)), TimeSpan.FromSeconds(20), "a twin owns the stream after the last crash");
            await stopObserving.CancelAsync();
            await observer;

            var parts = leaseValues.Select(v => v.Split('|')).ToArray();
            Assert.Multiple(() =>
            {
                Assert.That(worst, Is.EqualTo(1), "at every observation exactly one client at most owned the entry");
                Assert.That(parts.Select(p => p.Length), Is.All.EqualTo(3), "a lease value is consumer|instance|token");
                Assert.That(parts.Select(p => p[0]), Is.All.EqualTo(sharedId));
                Assert.That(parts.Select(p => p[1]).Distinct().Count(), Is.EqualTo(parts.Length), "every owner process has its own instance suffix");
            });
        }
        finally
        {
            foreach (var consumer in all)
            {
                await consumer.DisposeAsync();
            }
        }
    }

    [Test]
    public async Task Fencing_tokens_strictly_increase_across_successive_owners_of_a_stream()
    {
        var service = TestOptions.NewServiceName();
        var consumers = new List<TestConsumer>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                consumers.Add(await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: $"fence-{i}", autoClaim: true)));
            }

            var id = await new StreamPublisher(Redis, TestOptions.For(service)).AddStreamAsync("fenced-session");
            var tokens = new List<long>();
            var crashed = new HashSet<TestConsumer>();
            for (var owners = 0; owners < 4; owners++)
            {
                StreamLease? lease = null;
                await Eventually.AssertAsync(() => (lease = consumers.Except(crashed).SelectMany(c => c.Owned).FirstOrDefault(l => l.IdInLbs == id)) is not null,
                    TimeSpan.FromSeconds(20), $"owner {owners + 1} holds the stream");
                tokens.Add(lease!.FencingToken);
                var owner = consumers.Single(c => c.Client.ConsumerId == lease.ConsumerId);
                if (owners < 3)
                {
                    crashed.Add(owner);
                    await owner.CrashAsync();
                }
            }

            Assert.That(tokens, Is.Ordered.Ascending.And.Unique, $"tokens of successive owners: {string.Join(", ", tokens)}");
        }
        finally
        {
            foreach (var consumer in consumers)
            {
                await consumer.DisposeAsync();
            }
        }
    }
}
