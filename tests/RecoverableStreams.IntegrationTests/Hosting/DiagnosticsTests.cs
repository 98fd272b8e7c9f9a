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
        var lbs = TestHosts.LbsKey(service);
        var measurements = new ConcurrentQueue<(string Instrument, double Value, Dictionary<string, object?> Tags)>();
        var spans = new ConcurrentQueue<Activity>();

        using var meters = new MeterListener();
        meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name is RecoverableStreamsDiagnostics.MeterName or CoreDiagnostics.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };

        // Only this test's service: other tests' hosts run in parallel on the same meters.
        void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var bag = new Dictionary<string, object?>();
            foreach (var tag in tags)
            {
                bag[tag.Key] = tag.Value;
            }

            if (Equals(bag.GetValueOrDefault("messaging.destination.name"), lbs))
            {
                measurements.Enqueue((instrument.Name, value, bag));
            }
        }

        meters.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        meters.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
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
            // One fact, one instrument: the core counts the delivery, the lease held and its end; hosting the handler's run.
            await Eventually.AssertAsync(
                () => measurements.Any(m => m.Instrument == "recoverable_streams.leases.ended"),
                TimeSpan.FromSeconds(10),
                "the lease's end is counted");
            var byName = measurements.ToLookup(m => m.Instrument);
            Assert.That(byName["messaging.client.consumed.messages"].Select(m => (m.Value, m.Tags["recoverable_streams.origin"])), Is.EqualTo(new[] { (1.0, (object?)"assigned") }));
            Assert.That(byName["recoverable_streams.leases.held"].Select(m => m.Value), Is.EqualTo(new[] { 1.0, -1.0 }), "held once, then ended");
            Assert.That(byName["recoverable_streams.leases.ended"].Select(m => m.Tags["recoverable_streams.reason"]), Is.EqualTo(new[] { "completed" }));
            var process = byName["messaging.process.duration"].Single();
            Assert.That(process.Tags["messaging.system"], Is.EqualTo("redis"));
            Assert.That(process.Tags["messaging.consumer.group.name"], Is.EqualTo(service + "-group"));
            Assert.That(process.Tags.ContainsKey("error.type"), Is.False, "the handler returned normally");
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Test]
    public async Task DisableTracing_and_DisableMetrics_leave_a_services_runs_untraced_and_unmeasured()
    {
        var service = TestOptions.NewServiceName();
        var lbs = TestHosts.LbsKey(service);
        var measured = new ConcurrentQueue<string>();
        var spans = new ConcurrentQueue<Activity>();
        using var meters = new MeterListener();
        meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name is RecoverableStreamsDiagnostics.MeterName or CoreDiagnostics.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        void Record(Instrument instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "messaging.destination.name" && Equals(tag.Value, lbs))
                {
                    measured.Enqueue(instrument.Name);
                }
            }
        }

        meters.SetMeasurementEventCallback<long>((instrument, _, tags, _) => Record(instrument, tags));
        meters.SetMeasurementEventCallback<double>((instrument, _, tags, _) => Record(instrument, tags));
        meters.Start();
        using var activities = new ActivityListener
        {
            ShouldListenTo = source => source.Name == RecoverableStreamsDiagnostics.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (Equals(activity.GetTagItem("messaging.destination.name"), lbs))
                {
                    spans.Enqueue(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(activities);

        var builder = TestHosts.NewBuilder(service, settings: new Dictionary<string, string?> { ["DisableTracing"] = "true", ["DisableMetrics"] = "true" });
        builder.Services.AddRecoverableRedisStreams().AddHandler<NoOpHandler>();
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            await using var redis = await SharedRedis.Server.ConnectAsync();
            await TestHosts.Publisher(redis, service).AddStreamAsync("quiet-1");
            var db = redis.GetDatabase();
            await Eventually.AssertAsync(async () => await db.KeyExistsAsync(lbs) && await db.StreamLengthAsync(lbs) == 0, TimeSpan.FromSeconds(20), "the stream was completed (its LBS entry is gone)");
            await host.StopAsync();
            Assert.That(spans, Is.Empty, "no process span for a service with DisableTracing");
            Assert.That(measured.Distinct(), Is.Empty, "no measurement for a service with DisableMetrics");
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
