using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using RecoverableStreams.Hosting;
using RecoverableStreams.IntegrationTests.Infrastructure;

namespace RecoverableStreams.IntegrationTests.Hosting;

/// <summary>
/// What an OpenTelemetry user sees through <c>AddRecoverableStreamsInstrumentation()</c>, read with the in-memory
/// exporter: messaging spans continuing the producer's trace, errors, and the core and hosting metrics.
/// </summary>
public sealed class OpenTelemetryTests
{
    private static readonly ActivitySource Producer = new("RecoverableStreams.Tests.Producer");

    [Test]
    public async Task The_handler_span_carries_the_messaging_attributes_and_continues_the_publishers_trace()
    {
        var service = TestOptions.NewServiceName();
        var lbs = TestHosts.LbsKey(service);
        var spans = new List<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource(Producer.Name)
            .AddRecoverableStreamsInstrumentation()
            .AddInMemoryExporter(spans)
            .Build();

        var builder = TestHosts.NewBuilder(service);
        builder.Services.AddRecoverableRedisStreams().AddHandler<DiagnosticsTests.NoOpHandler>();
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            await using var redis = await SharedRedis.Server.ConnectAsync();
            string id;
            ActivityTraceId traceId;
            using (var request = Producer.StartActivity("handle order request"))
            {
                traceId = request!.TraceId;
                id = await TestHosts.Publisher(redis, service).AddStreamAsync("otel-order-1");
            }

            var process = await SpanAsync(tracing, spans, "process " + lbs);
            var send = Snapshot(spans).Single(s => s.DisplayName == "send " + lbs);
            Assert.Multiple(() =>
            {
                Assert.That(process.Kind, Is.EqualTo(ActivityKind.Consumer));
                Assert.That(process.TraceId, Is.EqualTo(traceId), "the handler's span is in the publisher's trace");
                Assert.That(process.ParentSpanId, Is.EqualTo(send.SpanId), "its parent is the publisher's send span");
                Assert.That(send.Kind, Is.EqualTo(ActivityKind.Producer));
                Assert.That(send.GetTagItem("messaging.message.id"), Is.EqualTo(id));
                Assert.That(process.GetTagItem("messaging.system"), Is.EqualTo("redis"));
                Assert.That(process.GetTagItem("messaging.operation.type"), Is.EqualTo("process"));
                Assert.That(process.GetTagItem("messaging.destination.name"), Is.EqualTo(lbs));
                Assert.That(process.GetTagItem("messaging.consumer.group.name"), Is.EqualTo(service + "-group"));
                Assert.That(process.GetTagItem("messaging.message.id"), Is.EqualTo(id));
                Assert.That(process.GetTagItem("recoverable_streams.data_stream"), Is.EqualTo("otel-order-1"));
                Assert.That(process.GetTagItem("recoverable_streams.outcome"), Is.EqualTo("completed"));
                Assert.That(process.Status, Is.Not.EqualTo(ActivityStatusCode.Error));
            });
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Test]
    public async Task An_entry_without_trace_context_starts_a_root_span()
    {
        var service = TestOptions.NewServiceName();
        var lbs = TestHosts.LbsKey(service);
        var spans = new List<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder().AddRecoverableStreamsInstrumentation().AddInMemoryExporter(spans).Build();

        var builder = TestHosts.NewBuilder(service);
        builder.Services.AddRecoverableRedisStreams().AddHandler<DiagnosticsTests.NoOpHandler>();
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            // What a Go producer writes: {"DataStreamName","Info"} and nothing else.
            await using var redis = await SharedRedis.Server.ConnectAsync();
            await redis.GetDatabase().StreamAddAsync(lbs, LbsInputMessage.FieldName, """{"DataStreamName":"go-order-1","Info":{"customer":"c-1"}}""");

            var process = await SpanAsync(tracing, spans, "process " + lbs);
            Assert.That(process.ParentSpanId, Is.EqualTo(default(ActivitySpanId)), "no parent: a new trace");
            Assert.That(process.GetTagItem("recoverable_streams.data_stream"), Is.EqualTo("go-order-1"));
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Test]
    public async Task A_failing_handler_marks_its_span_as_an_error_with_the_exception_type()
    {
        var service = TestOptions.NewServiceName();
        var lbs = TestHosts.LbsKey(service);
        var spans = new List<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder().AddRecoverableStreamsInstrumentation().AddInMemoryExporter(spans).Build();

        var builder = TestHosts.NewBuilder(service, settings: new Dictionary<string, string?> { ["MaxDeliveryAttempts"] = "1" });
        builder.Services.AddRecoverableRedisStreams().AddHandler<ThrowingHandler>();
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            await using var redis = await SharedRedis.Server.ConnectAsync();
            await TestHosts.Publisher(redis, service).AddStreamAsync("failing-1");

            var process = await SpanAsync(tracing, spans, "process " + lbs);
            Assert.That(process.Status, Is.EqualTo(ActivityStatusCode.Error));
            Assert.That(process.StatusDescription, Is.EqualTo("payment service down"));
            Assert.That(process.GetTagItem("error.type"), Is.EqualTo(typeof(TimeoutException).FullName));
            Assert.That(process.GetTagItem("recoverable_streams.outcome"), Is.EqualTo("dead_lettered"));
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Test]
    public async Task The_core_and_hosting_metrics_are_exported()
    {
        var service = TestOptions.NewServiceName();
        var lbs = TestHosts.LbsKey(service);
        var metrics = new List<Metric>();
        using var meters = Sdk.CreateMeterProviderBuilder().AddRecoverableStreamsInstrumentation().AddInMemoryExporter(metrics).Build();

        var builder = TestHosts.NewBuilder(service, settings: new Dictionary<string, string?> { ["MaxDeliveryAttempts"] = "1" });
        builder.Services.AddRecoverableRedisStreams().AddHandler<DiagnosticsTests.NoOpHandler>().AddHandler<ThrowingHandler>("fail:*");
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            await using var redis = await SharedRedis.Server.ConnectAsync();
            var publisher = TestHosts.Publisher(redis, service);
            await publisher.AddStreamAsync("ok-1");
            await publisher.AddStreamAsync("fail:1");

            string[] coreForThisLbs =
            [
                "messaging.client.consumed.messages", "recoverable_streams.leases.held", "recoverable_streams.leases.ended",
                "recoverable_streams.session.renewal.duration", "recoverable_streams.lbs.lag",
            ];
            string[] hosting = ["messaging.process.duration", "recoverable_streams.lease.headroom"];
            var seen = new HashSet<string>();
            await Eventually.AssertAsync(
                () =>
                {
                    metrics.Clear();
                    meters.ForceFlush();
                    foreach (var metric in metrics)
                    {
                        foreach (ref readonly var point in metric.GetMetricPoints())
                        {
                            string? destination = null, reason = null, errorType = null;
                            foreach (var tag in point.Tags)
                            {
                                switch (tag.Key)
                                {
                                    case "messaging.destination.name": destination = tag.Value as string; break;
                                    case "recoverable_streams.reason": reason = tag.Value as string; break;
                                    case "error.type": errorType = tag.Value as string; break;
                                }
                            }

                            if (destination == lbs)
                            {
                                seen.Add(metric.Name);
                                seen.Add(metric.Name + (reason is null ? "" : "|" + reason) + (errorType is null ? "" : "|error"));
                            }
                        }
                    }

                    // Both ends of this service's two streams, each counted once by the core, and the failed attempt
                    // as a hosting measurement with error.type.
                    string[] facts = ["recoverable_streams.leases.ended|completed", "recoverable_streams.leases.ended|dead_lettered", "messaging.process.duration|error"];
                    return coreForThisLbs.Concat(hosting).Concat(facts).All(seen.Contains);
                },
                TimeSpan.FromSeconds(30),
                "every core and hosting instrument reports for this LBS, with the ends' reasons and the failure's error.type");
            Assert.That(metrics.Single(m => m.Name == "recoverable_streams.session.renewal.duration").Unit, Is.EqualTo("s"));
            Assert.That(metrics.Single(m => m.Name == "messaging.process.duration").Unit, Is.EqualTo("s"));
        }
        finally
        {
            await host.StopAsync();
        }
    }

    private static Activity[] Snapshot(List<Activity> spans)
    {
        lock (spans)
        {
            return spans.ToArray();
        }
    }

    private static async Task<Activity> SpanAsync(TracerProvider tracing, List<Activity> spans, string name)
    {
        Activity? found = null;
        await Eventually.AssertAsync(
            () =>
            {
                tracing.ForceFlush();
                found = Snapshot(spans).FirstOrDefault(s => s.DisplayName == name);
                return found is not null;
            },
            TimeSpan.FromSeconds(20),
            $"the span '{name}' is exported");
        return found!;
    }

    internal sealed class ThrowingHandler : IStreamWorkHandler
    {
        public Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken) => throw new TimeoutException("payment service down");
    }
}
