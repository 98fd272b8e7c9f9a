using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using RecoverableStreams.Diagnostics;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Leasing;
using RecoverableStreams.Recovery;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Leasing;

/// <summary>
/// The accept/end race (issue 12, "every grant accounted for"): a grant can reach this process while its session ends
/// here (a deadline timer, a refused renewal). Accepting registers the lease first and then checks the session; ending
/// the session marks it first and then snapshots the registry. Whatever the interleaving, no lease of an ended session
/// stays registered: a zombie would hold a slot for the process's lifetime and never hear that it lost its stream.
/// </summary>
public sealed class AcceptEndRaceTests : SharedRedisTest
{
    [Test]
    public async Task A_grant_accepted_after_its_session_ended_ends_at_once_and_holds_no_slot()
    {
        var (context, leases) = NewClient();
        var session = new LeaseSession(context.ConsumerId + "|s1", long.MaxValue, 0);
        context.Session.End(session, "the test ended it");

        var lease = await leases.AcceptAsync(Grant(1), LeaseOrigin.Claimed, session, context.Partitions[0]);

        Assert.Multiple(() =>
        {
            Assert.That(lease, Is.Null, "no lease for an ended session");
            Assert.That(context.Registry.Count, Is.Zero, "nothing registered");
            Assert.That(context.Registry.FreeSlots, Is.EqualTo(context.Registry.Capacity), "no slot held");
        });
    }

    [Test]
    public async Task A_grant_arriving_after_its_sessions_local_deadline_ends_the_session_and_is_not_handed_out()
    {
        // The deadline passed, but the timer that ends the session has not run yet (a stalled thread pool, a reply
        // flushed from a reconnect's backlog): Redis may already have given the session's streams to a peer, so a
        // grant it made just before its own deadline must not start a handler here.
        var (context, leases) = NewClient();
        var session = new LeaseSession(context.ConsumerId + "|late", TimeProvider.System.GetTimestamp() - 1, 0);

        var lease = await leases.AcceptAsync(Grant(1), LeaseOrigin.Claimed, session, context.Partitions[0]);

        Assert.Multiple(() =>
        {
            Assert.That(lease, Is.Null, "no lease is handed out past the session's local deadline");
            Assert.That(session.IsEnded, Is.True, "the session ended at once, not at the timer's late tick");
            Assert.That(context.Registry.Count, Is.Zero, "nothing registered");
            Assert.That(context.Registry.FreeSlots, Is.EqualTo(context.Registry.Capacity), "no slot held");
        });
    }

    [Test]
    public async Task A_grant_accepted_after_its_session_ended_leaves_the_held_leases_instrument_unchanged()
    {
        // The instrument dashboards read as "streams this consumer owns now": a grant that ends on arrival must count
        // as taken and ended, or the gauge drifts by one at every such grant (it went below zero in a crash storm).
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        long held = 0;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Name == "recoverable_streams.leases.held")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, delta, _, _) => Interlocked.Add(ref held, delta));
        listener.Start();
        var options = TestOptions.For(maxConcurrentStreams: 100);
        using var metrics = new CoreMetrics(factory);
        var context = new ClientContext(Redis, options, NullLogger.Instance, TimeProvider.System, options.ConsumerId!, "i", metrics, CancellationToken.None);
        var leases = new LeaseOperations(context);
        context.CreateSession(leases, new ClaimCallBudget(context.RenewInterval));
        var live = new LeaseSession(context.ConsumerId + "|live", long.MaxValue, 0);
        var ended = new LeaseSession(context.ConsumerId + "|ended", long.MaxValue, 0);
        context.Session.End(ended, "the test ended it");

        var owned = await leases.AcceptAsync(Grant(1), LeaseOrigin.Claimed, live, context.Partitions[0]);
        var refused = await leases.AcceptAsync(Grant(2), LeaseOrigin.Claimed, ended, context.Partitions[0]);

        Assert.Multiple(() =>
        {
            Assert.That(owned, Is.Not.Null);
            Assert.That(refused, Is.Null);
            Assert.That(Interlocked.Read(ref held), Is.EqualTo(1), "held: the lease of the live session only");
        });
        leases.End(owned!, LeaseEndReason.Released);
        Assert.That(Interlocked.Read(ref held), Is.Zero, "held after its end");
    }

    [Test]
    public async Task Grants_accepted_while_their_session_ends_never_leave_a_lease_registered()
    {
        var (context, leases) = NewClient();
        var zombies = 0;
        var endedWhileAccepting = 0;
        for (var round = 0; round < 300; round++)
        {
            var session = new LeaseSession(context.ConsumerId + "|r" + round, long.MaxValue, 0);
            using var start = new Barrier(2);
            var accepting = Task.Run(async () =>
            {
                start.SignalAndWait();
                var accepted = new List<StreamLease>();
                for (var i = 0; i < 20; i++)
                {
                    if (await leases.AcceptAsync(Grant((round * 100) + i), LeaseOrigin.Claimed, session, context.Partitions[0]) is { } lease)
                    {
                        accepted.Add(lease);
                    }
                }

                return accepted;
            });
            var ending = Task.Run(() =>
            {
                start.SignalAndWait();
                Thread.SpinWait(Random.Shared.Next(0, 20_000));
                context.Session.End(session, "ended while grants arrive");
            });
            var acceptedHere = await accepting;
            await ending;

            zombies += context.Registry.Snapshot().Count(l => ReferenceEquals(l.Session, session));
            endedWhileAccepting += acceptedHere.Count(l => l.EndReason == LeaseEndReason.SessionEnded);
            foreach (var lease in context.Registry.Snapshot())
            {
                leases.End(lease, LeaseEndReason.Released);
            }
        }

        await TestContext.Out.WriteLineAsync($"leases accepted and then ended with their session: {endedWhileAccepting}");
        Assert.Multiple(() =>
        {
            Assert.That(zombies, Is.Zero, "leases of ended sessions still registered (zombies)");
            Assert.That(endedWhileAccepting, Is.GreaterThan(0), "the race was hit: some leases were accepted and then ended by their session's end");
        });
    }

    private (ClientContext Context, LeaseOperations Leases) NewClient()
    {
        var options = TestOptions.For(maxConcurrentStreams: 10_000);
        var context = new ClientContext(Redis, options, NullLogger.Instance, TimeProvider.System, options.ConsumerId!, "i", new CoreMetrics(null, false), CancellationToken.None);
        var leases = new LeaseOperations(context);
        context.CreateSession(leases, new ClaimCallBudget(context.RenewInterval));
        return (context, leases);
    }

    private static AcquiredEntry Grant(int n) =>
        new($"1-{n}", 1000 + n, [new KeyValuePair<string, RedisValue>("lbs-input", $$"""{"DataStreamName":"s-{{n}}"}""")], PreviousConsumer: null);
}
