using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>
/// Recovery does not depend on history (issue 12, "Every grant accounted for"): however many sessions died before,
/// with or without streams, a dead session's streams are found and taken.
/// </summary>
public sealed class ReapingTests : SharedRedisTest
{
    [Test]
    public async Task A_survivor_takes_a_crashed_owners_streams_within_a_lease_after_120_consumers_died_owning_nothing()
    {
        var service = TestOptions.NewServiceName();
        var lease = TimeSpan.FromSeconds(2);

        // Idle pods killed, a scale-down, failed starts: 120 consumers start and die while owning nothing.
        for (var wave = 0; wave < 6; wave++)
        {
            var started = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
                TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: $"idle-{wave}-{i}", lease: TimeSpan.FromSeconds(1), autoClaim: true))));
            await Task.WhenAll(started.Select(c => c.CrashAsync()));
        }

        var keys = StreamKeys.For(TestOptions.For(service));
        await Eventually.AssertAsync(
            async () => await Db.SortedSetLengthAsync(keys.Sessions, await Ownership.ServerNowMsAsync(Db), double.PositiveInfinity, Exclude.Start) == 0,
            TimeSpan.FromSeconds(10),
            "the 120 idle consumers are dead in Redis (their sessions' deadlines passed)");

        var publisher = new StreamPublisher(Redis, TestOptions.For(service));
        var owner = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "owner", lease: lease, autoClaim: true));
        for (var i = 0; i < 5; i++)
        {
            await publisher.AddStreamAsync($"stream-{i}");
        }

        await Eventually.AssertAsync(() => owner.Owned.Count == 5, TimeSpan.FromSeconds(10), "the owner owns all five streams");
        await using var survivor = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "survivor", lease: lease, autoClaim: true));
        var ids = owner.Owned.Select(l => l.IdInLbs).ToArray();
        var expiry = owner.Owned.Max(l => l.ExpiresAt);

        await owner.CrashAsync();

        // Within about one lease after the owner's deadline (control, no earlier deaths: all five within one lease).
        var wait = expiry - DateTimeOffset.UtcNow + lease;
        var taken = await Eventually.TrueAsync(() => survivor.Owned.Count == 5, wait);
        Assert.That(taken, Is.True, $"the survivor owns all five streams within a lease after the owner's deadline; it owns {survivor.Owned.Count} of 5");

        Assert.Multiple(async () =>
        {
            Assert.That(survivor.Owned.Select(l => l.IdInLbs), Is.EquivalentTo(ids));
            Assert.That(
                await Db.SortedSetLengthAsync(keys.Sessions, double.NegativeInfinity, await Ownership.ServerNowMsAsync(Db)),
                Is.Zero,
                "every dead session was reaped, those that owned nothing included");
        });
    }

    private IDatabase Db => Redis.GetDatabase();
}
