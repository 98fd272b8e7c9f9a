using Microsoft.Extensions.Logging.Abstractions;
using RecoverableStreams.Diagnostics;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Leasing;
using RecoverableStreams.Recovery;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Leasing;

/// <summary>
/// Each renewal compares Redis' count of a session's streams with what this process holds ("every grant accounted
/// for"). The registry keeps that count per session and partition as leases come and go, rather than walking every
/// lease at each renewal: the count must follow registration, ends and replacements exactly, or a lost grant goes
/// unrepaired (an overcount) or every renewal pages the index for nothing (an undercount).
/// </summary>
public sealed class HeldCountTests : SharedRedisTest
{
    [Test]
    public async Task A_sessions_held_count_per_partition_follows_grants_ends_and_replacements()
    {
        var options = TestOptions.For(maxConcurrentStreams: 1000);
        options.Partitions = 2;
        var context = new ClientContext(Redis, options, NullLogger.Instance, TimeProvider.System, options.ConsumerId!, "i", new CoreMetrics(null, false), CancellationToken.None);
        var leases = new LeaseOperations(context);
        context.CreateSession(leases, new ClaimCallBudget(context.RenewInterval));
        var first = new LeaseSession(context.ConsumerId + "|first", long.MaxValue, 0);
        var second = new LeaseSession(context.ConsumerId + "|second", long.MaxValue, 0);

        var inZero = new List<StreamLease>();
        for (var i = 0; i < 5; i++)
        {
            inZero.Add((await leases.AcceptAsync(Grant(i), LeaseOrigin.Claimed, first, context.Partitions[0]))!);
        }

        for (var i = 5; i < 8; i++)
        {
            _ = await leases.AcceptAsync(Grant(i), LeaseOrigin.Claimed, first, context.Partitions[1]);
        }

        Assert.That(context.Registry.HeldBy(first), Is.EqualTo(new[] { 5, 3 }), "granted: 5 in partition 0, 3 in partition 1");

        // One ends (any reason), and one is granted again to the second session (the first's lease is stale).
        leases.End(inZero[0], LeaseEndReason.Released);
        leases.End(inZero[0], LeaseEndReason.Released);
        var again = await leases.AcceptAsync(Grant(1, token: 2000), LeaseOrigin.Claimed, second, context.Partitions[0]);

        Assert.Multiple(() =>
        {
            Assert.That(again, Is.Not.Null);
            Assert.That(context.Registry.HeldBy(first), Is.EqualTo(new[] { 3, 3 }), "the first session: one ended (counted once), one replaced");
            Assert.That(context.Registry.HeldBy(second), Is.EqualTo(new[] { 1, 0 }), "the second session holds the stream granted again");
            Assert.That(context.Registry.Count, Is.EqualTo(7), "the registry itself agrees: 8 granted, one ended");
        });

        // The first session ends: all of its leases end, and its counts go to zero.
        context.Session.End(first, "the test ended it");
        Assert.That(context.Registry.HeldBy(first), Is.EqualTo(new[] { 0, 0 }));
    }

    private static AcquiredEntry Grant(int n, long token = 0) =>
        new($"1-{n}", token == 0 ? 1000 + n : token, [new KeyValuePair<string, RedisValue>("lbs-input", $$"""{"DataStreamName":"held-{{n}}"}""")], PreviousConsumer: null);
}
