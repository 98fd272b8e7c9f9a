using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RecoverableStreams.Hosting;
using RecoverableStreams.IntegrationTests.Infrastructure;

namespace RecoverableStreams.IntegrationTests.Hosting;

public sealed class StallTests
{
    [Test]
    public async Task A_stalled_handler_loses_its_stream_is_cancelled_and_a_peer_takes_the_stream()
    {
        var service = TestOptions.NewServiceName();
        var settings = new Dictionary<string, string?> { ["HandlerStallTimeout"] = "00:00:01.5", ["MaxConcurrentStreams"] = "2" };
        var log = new Log();
        using var stalling = Build(service, "stalling", settings, log, peer: false);
        using var peer = Build(service, "peer", settings, log, peer: true);
        await stalling.StartAsync();
        try
        {
            await using var redis = await SharedRedis.Server.ConnectAsync();
            var publisher = TestHosts.Publisher(redis, service);
            // A stream that heartbeats keeps the stalling host loaded, so the idle peer claims expired streams first.
            await publisher.AddStreamAsync("keep-1");
            await Eventually.AssertAsync(() => log.Started.Any(s => s.Stream == "keep-1"), TimeSpan.FromSeconds(20), "the stalling host owns keep-1");
            await publisher.AddStreamAsync("stall-1");
            await Eventually.AssertAsync(() => log.Started.Any(s => s.Stream == "stall-1"), TimeSpan.FromSeconds(20), "the stalling host owns stall-1");
            await peer.StartAsync();

            await Eventually.AssertAsync(() => log.Cancelled.Contains("stalling/stall-1"), TimeSpan.FromSeconds(15), "the stalled handler's token fires");
            await Eventually.AssertAsync(() => log.Started.Any(s => s.Stream == "stall-1" && s.Consumer == "peer"), TimeSpan.FromSeconds(40), "the peer takes the stalled stream");
            Assert.That(log.Cancelled, Does.Not.Contain("stalling/keep-1"), "a handler that heartbeats keeps its stream");
            await peer.StopAsync();
        }
        finally
        {
            await stalling.StopAsync();
        }
    }

    private static IHost Build(string service, string consumerId, Dictionary<string, string?> settings, Log log, bool peer)
    {
        var builder = TestHosts.NewBuilder(service, consumerId: consumerId, settings: settings);
        builder.Services.AddSingleton(log);
        builder.Services.AddSingleton(new Role(peer));
        builder.Services.AddRecoverableRedisStreams().AddHandler<Handler>();
        return builder.Build();
    }

    internal sealed record Role(bool IsPeer);

    internal sealed class Log
    {
        public ConcurrentQueue<(string Consumer, string Stream)> Started { get; } = new();

        public ConcurrentBag<string> Cancelled { get; } = new();
    }

    internal sealed class Handler(Log log, Role role) : IStreamWorkHandler
    {
        public async Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken)
        {
            log.Started.Enqueue((context.ConsumerId, context.DataStreamName));
            if (role.IsPeer)
            {
                return;
            }

            using var registration = cancellationToken.Register(() => log.Cancelled.Add(context.ConsumerId + "/" + context.DataStreamName));
            if (context.DataStreamName.StartsWith("stall", StringComparison.Ordinal))
            {
                // Hung: no read, no checkpoint, no heartbeat.
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            while (true)
            {
                context.Heartbeat();
                await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
            }
        }
    }
}
