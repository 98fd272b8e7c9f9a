using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RecoverableStreams.Hosting;
using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Hosting;

public sealed class HandlerRoutingTests
{
    [Test]
    public async Task Streams_go_to_the_most_specific_handler_each_in_its_own_disposed_scope()
    {
        var service = TestOptions.NewServiceName();
        var recorder = new Recorder();
        var builder = TestHosts.NewBuilder(service);
        builder.Services.AddSingleton(recorder);
        builder.Services.AddScoped<ScopedProbe>();
        builder.Services.AddRecoverableRedisStreams()
            .AddHandler<DefaultHandler>()
            .AddHandler<OrdersHandler>("orders:*")
            .AddHandler<VipOrdersHandler>("orders:vip-?");
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            await using var redis = await SharedRedis.Server.ConnectAsync();
            var publisher = TestHosts.Publisher(redis, service);
            foreach (var stream in new[] { "orders:1", "orders:vip-7", "misc:1", "orders:vip-77" })
            {
                await publisher.AddStreamAsync(stream);
            }

            await Eventually.AssertAsync(() => recorder.Visits.Count == 4, TimeSpan.FromSeconds(20), "each stream is handled once");
            Assert.That(recorder.For("orders:1").Single().Handler, Is.EqualTo(nameof(OrdersHandler)));
            Assert.That(recorder.For("orders:vip-7").Single().Handler, Is.EqualTo(nameof(VipOrdersHandler)));
            Assert.That(recorder.For("orders:vip-77").Single().Handler, Is.EqualTo(nameof(OrdersHandler)), "'?' matches exactly one character");
            Assert.That(recorder.For("misc:1").Single().Handler, Is.EqualTo(nameof(DefaultHandler)));

            var probes = recorder.Visits.Select(v => (ScopedProbe)v.Detail!).ToArray();
            Assert.That(probes.Select(p => p.Id).Distinct().Count(), Is.EqualTo(4), "a new scope (and scoped instance) per stream");
            await Eventually.AssertAsync(() => probes.All(p => p.Disposed), TimeSpan.FromSeconds(10), "every stream's scope is disposed after it");
            await Eventually.AssertAsync(async () => await redis.GetDatabase().StreamLengthAsync(TestHosts.LbsKey(service)) == 0, TimeSpan.FromSeconds(10),
                "returning normally completes every stream (its LBS entry is deleted)");
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Test]
    public async Task A_host_without_handlers_fails_to_start()
    {
        var builder = TestHosts.NewBuilder(TestOptions.NewServiceName());
        builder.Services.AddRecoverableRedisStreams();
        using var host = builder.Build();
        var error = Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());
        Assert.That(error!.Message, Does.Contain("AddHandler"));
    }

    [Test]
    public async Task A_stream_no_handler_matches_is_dead_lettered_with_a_reason()
    {
        var service = TestOptions.NewServiceName();
        var recorder = new Recorder();
        var builder = TestHosts.NewBuilder(service);
        builder.Services.AddSingleton(recorder);
        builder.Services.AddScoped<ScopedProbe>();
        builder.Services.AddRecoverableRedisStreams().AddHandler<OrdersHandler>("orders:*");
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            await using var redis = await SharedRedis.Server.ConnectAsync();
            await TestHosts.Publisher(redis, service).AddStreamAsync("unrouted:1");
            StreamEntry[] dead = [];
            await Eventually.AssertAsync(async () => (dead = await redis.GetDatabase().StreamRangeAsync(TestHosts.DeadLetterKey(service))).Length == 1,
                TimeSpan.FromSeconds(20), "the unrouted stream is dead-lettered");
            Assert.That((string?)dead[0]["reason"], Does.StartWith("unroutable").And.Contain("No handler matches data stream 'unrouted:1'"));
            Assert.That(recorder.Visits, Is.Empty);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    /// <summary>
    /// A rolling deploy: the old pod (A) handles only "a-*", the new one (B) also "b-*". A stream A takes but cannot
    /// route goes to B, which advertises a matching pattern; only a stream no live consumer can handle is dead-lettered.
    /// </summary>
    [Test]
    public async Task A_stream_one_host_cannot_route_goes_to_a_live_host_that_can_and_only_an_unroutable_one_is_dead_lettered()
    {
        var service = TestOptions.NewServiceName();
        var recorder = new Recorder();
        var gate = new BlockingHandler.Gate();
        await using var redis = await SharedRedis.Server.ConnectAsync();
        var db = redis.GetDatabase();
        var publisher = TestHosts.Publisher(redis, service);

        // B takes one stream at a time and is kept busy, so that A is the one that takes "b-1" first.
        var b = TestHosts.NewBuilder(service, consumerId: "host-b", settings: new Dictionary<string, string?> { ["MaxConcurrentStreams"] = "1" });
        b.Services.AddSingleton(recorder);
        b.Services.AddSingleton(gate);
        b.Services.AddRecoverableRedisStreams().AddHandler<BlockingHandler>("b-*");
        using var hostB = b.Build();
        await hostB.StartAsync();

        var a = TestHosts.NewBuilder(service, consumerId: "host-a");
        a.Services.AddSingleton(recorder);
        a.Services.AddSingleton(gate);
        var takenByA = new FailureTests.EventLog();
        a.Services.AddSingleton<IStreamLifecycleObserver>(takenByA);
        a.Services.AddRecoverableRedisStreams().AddHandler<BlockingHandler>("a-*");
        using var hostA = a.Build();
        try
        {
            await publisher.AddStreamAsync("b-0");
            await Eventually.AssertAsync(() => recorder.For("b-0").Count == 1, TimeSpan.FromSeconds(20), "B is busy with b-0");
            await hostA.StartAsync();

            await publisher.AddStreamAsync("b-1");
            await Eventually.AssertAsync(() => takenByA.Events.Any(e => e.DataStreamName == "b-1" && e.Kind == StreamLifecycleEventKind.Assigned),
                TimeSpan.FromSeconds(20), "A takes b-1 first (B is full)");
            await publisher.AddStreamAsync("a-1");
            await publisher.AddStreamAsync("c-1");

            StreamEntry[] dead = [];
            await Eventually.AssertAsync(async () => (dead = await db.StreamRangeAsync(TestHosts.DeadLetterKey(service))).Length >= 1,
                TimeSpan.FromSeconds(20), "c-1, which no live consumer handles, is dead-lettered");
            gate.Open.TrySetResult();
            await Eventually.AssertAsync(async () => await db.StreamLengthAsync(TestHosts.LbsKey(service)) == 0, TimeSpan.FromSeconds(30),
                "a-1, b-0 and b-1 are completed once B is free");

            dead = await db.StreamRangeAsync(TestHosts.DeadLetterKey(service));
            Assert.Multiple(() =>
            {
                Assert.That(dead, Has.Length.EqualTo(1), "only c-1 is dead-lettered");
                Assert.That((string?)dead[0]["reason"], Does.StartWith("unroutable").And.Contain("'c-1'"));
                Assert.That(recorder.For("b-1").Select(v => v.ConsumerId), Is.EqualTo(new[] { "host-b" }), "B handles b-1, once");
                Assert.That(recorder.For("a-1").Select(v => v.ConsumerId), Is.EqualTo(new[] { "host-a" }));
            });
        }
        finally
        {
            gate.Open.TrySetResult();
            await hostA.StopAsync();
            await hostB.StopAsync();
        }
    }

    internal sealed class BlockingHandler(Recorder recorder, BlockingHandler.Gate gate) : IStreamWorkHandler
    {
        public async Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken)
        {
            recorder.Add(new Visit(nameof(BlockingHandler), context.DataStreamName, context.ConsumerId, context.Origin, context.Attempt));
            if (context.DataStreamName == "b-0")
            {
                await gate.Open.Task.WaitAsync(cancellationToken);
            }
        }

        internal sealed class Gate
        {
            public TaskCompletionSource Open { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    internal sealed class ScopedProbe : IDisposable
    {
        public Guid Id { get; } = Guid.NewGuid();

        public bool Disposed { get; private set; }

        public void Dispose() => Disposed = true;
    }

    internal abstract class RecordingHandler(Recorder recorder, ScopedProbe probe) : IStreamWorkHandler
    {
        public Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken)
        {
            Assert.That(probe.Disposed, Is.False);
            recorder.Add(new Visit(GetType().Name, context.DataStreamName, context.ConsumerId, context.Origin, context.Attempt, probe));
            return Task.CompletedTask;
        }
    }

    internal sealed class DefaultHandler(Recorder recorder, ScopedProbe probe) : RecordingHandler(recorder, probe);

    internal sealed class OrdersHandler(Recorder recorder, ScopedProbe probe) : RecordingHandler(recorder, probe);

    internal sealed class VipOrdersHandler(Recorder recorder, ScopedProbe probe) : RecordingHandler(recorder, probe);
}
