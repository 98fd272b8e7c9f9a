using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RecoverableStreams.Hosting;
using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Hosting;

public sealed class HandoverTests
{
    [Test]
    public async Task Graceful_shutdown_hands_unfinished_streams_to_a_peer_long_before_the_lease_expires_and_it_resumes_from_the_checkpoint()
    {
        var service = TestOptions.NewServiceName();
        var lease = TimeSpan.FromSeconds(30);
        await using var redis = await SharedRedis.Server.ConnectAsync();
        var db = redis.GetDatabase();
        // Data streams of this test only (the shared server runs other tests at the same time), deleted at the end.
        var streams = new[] { service + ":dev-1", service + ":dev-2", service + ":dev-3" };
        var firstIds = new Dictionary<string, List<string>>();
        foreach (var stream in streams)
        {
            firstIds[stream] = [];
            for (var i = 0; i < 5; i++)
            {
                firstIds[stream].Add((await db.StreamAddAsync(stream, "n", i)).ToString());
            }
        }

        var seenByA = new CheckpointingHandler.Log();
        var seenByB = new CheckpointingHandler.Log();
        using var hostA = Build(service, lease, "host-a", seenByA);
        using var hostB = Build(service, lease, "host-b", seenByB);
        await hostA.StartAsync();
        var publisher = TestHosts.Publisher(redis, service);
        foreach (var stream in streams)
        {
            await publisher.AddStreamAsync(stream);
        }

        await Eventually.AssertAsync(() => streams.All(s => seenByA.Entries(s).Count == 5), TimeSpan.FromSeconds(20), "host A processes and checkpoints every entry");
        await hostB.StartAsync();
        try
        {
            var stopping = System.Diagnostics.Stopwatch.StartNew();
            await hostA.StopAsync();
            await Eventually.AssertAsync(() => streams.All(s => seenByB.Sessions.ContainsKey(s)), TimeSpan.FromSeconds(20), "host B takes over every stream");
            Assert.That(stopping.Elapsed, Is.LessThan(lease), "the handover did not wait for the lease to expire");

            Assert.That(await db.StreamLengthAsync(TestHosts.LbsKey(service)), Is.EqualTo(3), "host A completed none of the streams (its handler returned normally after cancellation)");
            Assert.That(seenByA.Cancelled.Keys, Is.EquivalentTo(streams), "every handler of host A saw the cancellation");
            Assert.That(seenByB.Sessions.Values.Select(v => v.Origin), Is.All.EqualTo(LeaseOrigin.Claimed));

            var newIds = new Dictionary<string, string>();
            foreach (var stream in streams)
            {
                newIds[stream] = (await db.StreamAddAsync(stream, "n", 5)).ToString();
            }

            await Eventually.AssertAsync(() => streams.All(s => seenByB.Entries(s).Count >= 1), TimeSpan.FromSeconds(20), "host B reads the new entries");
            foreach (var stream in streams)
            {
                Assert.That(seenByB.Entries(stream), Is.EqualTo(new[] { newIds[stream] }), $"host B resumes {stream} after host A's checkpoint");
            }
        }
        finally
        {
            await hostB.StopAsync();
            await db.KeyDeleteAsync([.. streams.Select(s => (StackExchange.Redis.RedisKey)s)]);
        }
    }

    [Test]
    public async Task A_handler_that_ignores_cancellation_has_its_stream_handed_over_at_the_shutdown_timeout()
    {
        var service = TestOptions.NewServiceName();
        var started = new TaskCompletionSource();
        var builder = TestHosts.NewBuilder(service, lease: TimeSpan.FromSeconds(30));
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(1));
        builder.Services.AddSingleton(started);
        using var endOfTest = new CancellationTokenSource();
        builder.Services.AddSingleton(endOfTest);
        builder.Services.AddRecoverableRedisStreams().AddHandler<StubbornHandler>();
        using var host = builder.Build();
        await host.StartAsync();
        await using var redis = await SharedRedis.Server.ConnectAsync();
        var id = await TestHosts.Publisher(redis, service).AddStreamAsync(service + ":stubborn-1");
        await started.Task.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.That(await redis.GetDatabase().HashExistsAsync(TestHosts.OwnersKey(service), id), Is.True);

        await host.StopAsync();

        // Handed over at shutdown: its record names the consumer's session, closed and dead at once (deadline 0), so
        // peers take it now instead of at the session's deadline 30 s later.
        var record = (string?)await redis.GetDatabase().HashGetAsync(TestHosts.OwnersKey(service), id);
        Assert.That(record, Is.Not.Null, "recorded for the closed session until a peer takes it");
        var deadline = await redis.GetDatabase().SortedSetScoreAsync(TestHosts.SessionsKey(service), record![..record.LastIndexOf('|')]);
        Assert.That(deadline, Is.Zero, "the stream was handed over with the closed session, not left to the session's deadline");
        Assert.That(await redis.GetDatabase().StreamLengthAsync(TestHosts.LbsKey(service)), Is.EqualTo(1), "and the stream was not completed");
        await endOfTest.CancelAsync();
    }

    private static IHost Build(string service, TimeSpan lease, string consumerId, CheckpointingHandler.Log log)
    {
        var builder = TestHosts.NewBuilder(service, lease: lease, consumerId: consumerId);
        builder.Services.AddSingleton(log);
        builder.Services.AddRecoverableRedisStreams().AddHandler<CheckpointingHandler>();
        return builder.Build();
    }

    /// <summary>Ignores its cancellation token; only the end of the test lets it go.</summary>
    internal sealed class StubbornHandler(TaskCompletionSource started, CancellationTokenSource endOfTest) : IStreamWorkHandler
    {
        public async Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken)
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, endOfTest.Token).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    /// <summary>Reads and checkpoints each entry; on cancellation returns normally (the worst case: it must still not complete).</summary>
    internal sealed class CheckpointingHandler(CheckpointingHandler.Log log) : IStreamWorkHandler
    {
        public async Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken)
        {
            log.Sessions[context.DataStreamName] = context;
            try
            {
                await foreach (var entry in context.ReadEntriesAsync(cancellationToken: cancellationToken))
                {
                    await context.CheckpointAsync(entry.Id!, cancellationToken: cancellationToken);
                    log.Read.Enqueue((context.DataStreamName, entry.Id.ToString()));
                }
            }
            catch (OperationCanceledException)
            {
                log.Cancelled[context.DataStreamName] = true;
            }
        }

        internal sealed class Log
        {
            public ConcurrentDictionary<string, StreamWorkContext> Sessions { get; } = new();

            public ConcurrentQueue<(string Stream, string Id)> Read { get; } = new();

            public ConcurrentDictionary<string, bool> Cancelled { get; } = new();

            public IReadOnlyList<string> Entries(string stream) => Read.Where(r => r.Stream == stream).Select(r => r.Id).ToArray();
        }
    }
}
