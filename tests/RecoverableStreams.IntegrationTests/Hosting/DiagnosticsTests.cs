using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using RecoverableStreams.Hosting;
using RecoverableStreams.IntegrationTests.Infrastructure;

namespace RecoverableStreams.IntegrationTests.Hosting;

public sealed class DiagnosticsTests
{
    [Test]
    public async Task A_completed_stream_is_counted_and_traced_as_one_consumer_span()
    {
        var service = TestOptions.NewServiceName();
        var stream = "traced-" + Guid.NewGuid().ToString("N")[..8];
        var measurements = new ConcurrentQueue<(string Instrument, double Value)>();
        var spans = new ConcurrentQueue<Activity>();

        using var meters = new MeterListener();
        meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == RecoverableStreamsDiagnostics.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        meters.SetMeasurementEventCallback<long>((instrument, value, _, _) => measurements.Enqueue((instrument.Name, value)));
        meters.SetMeasurementEventCallback<double>((instrument, value, _, _) => measurements.Enqueue((instrument.Name, value)));
        meters.SetMeasurementEventCallback<int>((instrument, value, _, _) => measurements.Enqueue((instrument.Name, value)));
        meters.Start();
        using var activities = new ActivityListener
        {
            ShouldListenTo = source => source.Name == RecoverableStreamsDiagnostics.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (Equals(activity.GetTagItem("recoverable_streams.data_stream"), stream))
                {
                    spans.Enqueue(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(activities);

        var builder = TestHosts.NewBuilder(service);
        builder.Services.AddRecoverableRedisStreams().AddHandler<NoOpHandler>();
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            await using var redis = await SharedRedis.Server.ConnectAsync();
            await TestHosts.Publisher(redis, service).AddStreamAsync(stream);
            await Eventually.AssertAsync(() => !spans.IsEmpty, TimeSpan.FromSeconds(20), "the stream's session span ends");

            var span = spans.Single();
            Assert.That(span.Kind, Is.EqualTo(ActivityKind.Consumer));
            Assert.That(span.GetTagItem("recoverable_streams.outcome"), Is.EqualTo("completed"));
            Assert.That(span.GetTagItem("recoverable_streams.origin"), Is.EqualTo("assigned"));
            Assert.That(span.GetTagItem("recoverable_streams.fencing_token"), Is.GreaterThan(0L));
            Assert.That(measurements.Select(m => m.Instrument), Does.Contain("recoverable_streams.streams.assigned")
                .And.Contain("recoverable_streams.streams.completed")
                .And.Contain("recoverable_streams.handler.duration"));
            meters.RecordObservableInstruments();
            Assert.That(measurements.Select(m => m.Instrument), Does.Contain("recoverable_streams.streams.owned"));
        }
        finally
        {
            await host.StopAsync();
        }
    }

    internal sealed class NoOpHandler : IStreamWorkHandler
    {
        public Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
