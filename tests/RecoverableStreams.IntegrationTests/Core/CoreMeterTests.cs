using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using RecoverableStreams.IntegrationTests.Infrastructure;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>
/// The core's meter is no static: a client creates it through the <see cref="IMeterFactory"/> it is given (the host's,
/// which owns and disposes it), or creates its own and disposes it when it stops.
/// </summary>
public sealed class CoreMeterTests
{
    [Test]
    public async Task A_client_creates_its_meter_through_the_given_factory_and_leaves_it_to_the_factory()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        var published = new ConcurrentQueue<Instrument>();
        var completed = new ConcurrentQueue<Instrument>();
        using var listener = Listen(i => i.Meter.Scope == factory, published, completed);

        await using var redis = await SharedRedis.Server.ConnectAsync();
        var client = new RecoverableStreamClient(redis, TestOptions.For(), meterFactory: factory);
        Assert.That(published.Select(i => i.Meter.Name).Distinct(), Is.EqualTo(new[] { CoreDiagnostics.MeterName }), "the client's instruments are on the factory's meter");

        await client.DisposeAsync();
        Assert.That(completed, Is.Empty, "the factory's meter is the factory's to dispose");
        services.Dispose();
        Assert.That(completed, Is.Not.Empty, "disposed with the factory");
    }

    [Test]
    public async Task A_client_without_a_factory_disposes_its_own_meter_when_it_stops()
    {
        var thread = -1;
        var published = new ConcurrentQueue<Instrument>();
        var completed = new ConcurrentQueue<Instrument>();

        // Instruments are published on the thread that creates them: this test's, during the constructor below.
        var constructing = false;
        using var listener = Listen(i => Volatile.Read(ref constructing) && Environment.CurrentManagedThreadId == Volatile.Read(ref thread) && i.Meter.Scope is null && i.Meter.Name == CoreDiagnostics.MeterName, published, completed);
        await using var redis = await SharedRedis.Server.ConnectAsync();
        Volatile.Write(ref thread, Environment.CurrentManagedThreadId);
        Volatile.Write(ref constructing, true);
        var client = new RecoverableStreamClient(redis, TestOptions.For());
        Volatile.Write(ref constructing, false);
        Assert.That(published, Is.Not.Empty, "the client made its own meter");
        Assert.That(completed, Is.Empty);

        await client.DisposeAsync();
        Assert.That(completed, Is.EquivalentTo(published), "every instrument of its own meter ends with the client");
    }

    private static MeterListener Listen(Func<Instrument, bool> mine, ConcurrentQueue<Instrument> published, ConcurrentQueue<Instrument> completed)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (mine(instrument))
                {
                    published.Enqueue(instrument);
                    l.EnableMeasurementEvents(instrument);
                }
            },
            MeasurementsCompleted = (instrument, _) => completed.Enqueue(instrument),
        };
        listener.Start();
        return listener;
    }
}
