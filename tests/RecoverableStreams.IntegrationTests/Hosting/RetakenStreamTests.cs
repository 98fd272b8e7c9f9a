using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RecoverableStreams.Hosting;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Hosting.Processing;
using RecoverableStreams.Keys;

namespace RecoverableStreams.IntegrationTests.Hosting;

public sealed class RetakenStreamTests
{
    private const int PreviousSessionStillRunningEventId = 259;

    /// <summary>
    /// A stream lost and taken back by the same process starts its new session after the previous one finished, but
    /// never waits without bound: a handler that ignores cancellation is fenced anyway (its lease is gone).
    /// </summary>
    [Test]
    public async Task A_stream_taken_back_while_its_previous_handler_ignores_cancellation_is_handled_again()
    {
        var service = TestOptions.NewServiceName();
        var log = new StubbornHandler.Log();
        var logs = new LogCapture();
        var builder = TestHosts.NewBuilder(service);
        builder.Logging.AddProvider(logs);
        builder.Services.AddSingleton(log);
        builder.Services.AddRecoverableRedisStreams().AddHandler<StubbornHandler>();
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            await using var redis = await SharedRedis.Server.ConnectAsync();
            var id = await TestHosts.Publisher(redis, service).AddStreamAsync("stubborn-1");
            await Eventually.AssertAsync(() => log.Visits.Count == 1, TimeSpan.FromSeconds(20), "the first handler starts");
            var first = log.Visits.First();

            // Kill the owner's session behind its back: its handler is cancelled but ignores it; the same process
            // opens a new session and takes the stream back.
            await Ownership.KillSessionAsync(redis.GetDatabase(), StreamKeys.For(new RecoverableStreamOptions { ServiceName = service }), ((LeaseStreamWorkContext)first).Lease.Session.Id);
            await Eventually.AssertAsync(() => !first.IsOwned, TimeSpan.FromSeconds(15), "the first lease is lost");

            await Eventually.AssertAsync(() => log.Visits.Count >= 2, TimeSpan.FromSeconds(30), "the stream is handled again while the first handler still runs");
            Assert.That(log.Visits.ElementAt(1).FencingToken, Is.GreaterThan(first.FencingToken));
            await Eventually.AssertAsync(async () => await redis.GetDatabase().StreamLengthAsync(TestHosts.LbsKey(service)) == 0, TimeSpan.FromSeconds(15), "the second session completes the stream");
            Assert.That(logs.WithEventId(PreviousSessionStillRunningEventId), Is.Not.Empty, "the worker logged that it stopped waiting for the previous session");
        }
        finally
        {
            log.Gate.TrySetResult();
            await host.StopAsync();
        }
    }

    internal sealed class StubbornHandler(StubbornHandler.Log log) : IStreamWorkHandler
    {
        public async Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken)
        {
            log.Visits.Enqueue(context);
            if (log.Visits.Count == 1)
            {
                // Ignores cancellation on purpose: waits for the test, not for its token.
                await log.Gate.Task;
            }
        }

        internal sealed class Log
        {
            public ConcurrentQueue<StreamWorkContext> Visits { get; } = new();

            public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }
}
