using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using RecoverableStreams.Hosting;
using RecoverableStreams.IntegrationTests.Infrastructure;

namespace RecoverableStreams.IntegrationTests.Hosting;

public sealed class OwnershipLossTests
{
    [Test]
    public async Task A_handler_is_cancelled_when_its_lease_is_taken_away()
    {
        var service = TestOptions.NewServiceName();
        var sessions = new WaitingHandler.Log();
        var events = new FailureTests.EventLog();
        var builder = TestHosts.NewBuilder(service, lease: TimeSpan.FromSeconds(3));
        builder.Services.AddSingleton(sessions);
        builder.Services.AddSingleton<IStreamLifecycleObserver>(events);
        builder.Services.AddRecoverableRedisStreams().AddHandler<WaitingHandler>();
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            await using var redis = await SharedRedis.Server.ConnectAsync();
            var id = await TestHosts.Publisher(redis, service).AddStreamAsync("lost-1");
            await Eventually.AssertAsync(() => !sessions.Started.IsEmpty, TimeSpan.FromSeconds(20), "the handler starts");
            var first = sessions.Started.First();
            Assert.That(first.IsOwned, Is.True);

            // Take the session away behind the owner's back: its next renewal finds it gone, and every stream of it is lost.
            var record = (string)(await redis.GetDatabase().HashGetAsync(TestHosts.OwnersKey(service), id))!;
            var session = record[..record.LastIndexOf('|')];
            Assert.That(await redis.GetDatabase().SortedSetRemoveAsync(TestHosts.SessionsKey(service), session), Is.True);

            await Eventually.AssertAsync(() => sessions.Cancelled.Contains(first), TimeSpan.FromSeconds(15), "the handler's token fires");
            Assert.That(first.IsOwned, Is.False);
            Assert.That(first.OwnershipLost.IsCancellationRequested, Is.True);
            Assert.That(await redis.GetDatabase().StreamLengthAsync(TestHosts.LbsKey(service)), Is.EqualTo(1), "a lost stream is not completed");

            // The run is the one source of the loss: one Disowned event, carrying the run's typed outcome.
            await Eventually.AssertAsync(() => events.Events.Any(e => e.Kind == StreamLifecycleEventKind.Disowned), TimeSpan.FromSeconds(10), "the run reports the loss");
            var ofStream = events.Events.Where(e => e.IdInLbs == id).ToArray();
            Assert.That(ofStream.Select(e => e.Kind), Is.EqualTo(new[] { StreamLifecycleEventKind.Assigned, StreamLifecycleEventKind.Disowned }), "assigned, then lost once; nothing completed, counted or released");
            Assert.That(ofStream[^1].Outcome, Is.EqualTo(StreamRunOutcome.OwnershipLost));
        }
        finally
        {
            await host.StopAsync();
        }
    }

    internal sealed class WaitingHandler(WaitingHandler.Log log) : IStreamWorkHandler
    {
        public async Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken)
        {
            log.Started.Enqueue(context);
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            finally
            {
                log.Cancelled.Add(context);
            }
        }

        internal sealed class Log
        {
            public ConcurrentQueue<StreamWorkContext> Started { get; } = new();

            public ConcurrentBag<StreamWorkContext> Cancelled { get; } = new();
        }
    }
}
