using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RecoverableStreams.Hosting;
using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

// The handlers build StackExchange.Redis exceptions the way the library does in an outage; their simplest constructors are obsolete.
#pragma warning disable CS0618

namespace RecoverableStreams.IntegrationTests.Hosting;

/// <summary>
/// Redis in a transient state (failover, loading, cluster down, connection lost) is an outage, not a failed attempt:
/// it never dead-letters a healthy stream, and a handler that keeps hitting one gives the stream up after
/// <c>MaxOutageRetryDuration</c> instead of retrying forever.
/// </summary>
public sealed class OutageTests
{
    [Test]
    public async Task A_handler_failing_with_READONLY_LOADING_or_CLUSTERDOWN_spends_no_delivery_attempt()
    {
        var service = TestOptions.NewServiceName();
        // One attempt: a single counted failure would dead-letter the stream.
        var settings = new Dictionary<string, string?> { ["MaxDeliveryAttempts"] = "1" };
        var script = new Script(
        [
            () => new RedisServerException("READONLY You can't write against a read only replica."),
            () => new RedisServerException("LOADING Redis is loading the dataset in memory"),
            () => new RecoverableStreamsException("Redis failed: CLUSTERDOWN The cluster is down", new RedisServerException("CLUSTERDOWN The cluster is down")),
        ]);
        var builder = TestHosts.NewBuilder(service, settings: settings);
        builder.Services.AddSingleton(script);
        builder.Services.AddRecoverableRedisStreams().AddHandler<ScriptedHandler>();
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            await using var redis = await SharedRedis.Server.ConnectAsync();
            await TestHosts.Publisher(redis, service).AddStreamAsync("outage-1");
            await Eventually.AssertAsync(async () => await redis.GetDatabase().StreamLengthAsync(TestHosts.LbsKey(service)) == 0, TimeSpan.FromSeconds(40),
                "the stream is completed once the outage is over");
            Assert.Multiple(async () =>
            {
                Assert.That(script.Visits.Count, Is.EqualTo(4), "three outages, then the successful run");
                Assert.That(script.Visits.Select(v => v.Attempt), Is.All.EqualTo(1), "no outage spent an attempt");
                Assert.That(await redis.GetDatabase().StreamLengthAsync(TestHosts.DeadLetterKey(service)), Is.Zero, "nothing was dead-lettered");
                Assert.That(await redis.GetDatabase().HashLengthAsync(TestHosts.AttemptsKey(service)), Is.Zero, "no failed attempt was counted");
            });
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Test]
    public async Task A_handler_that_keeps_hitting_an_outage_is_retried_in_place_then_released_to_another_consumer()
    {
        var service = TestOptions.NewServiceName();
        var settings = new Dictionary<string, string?> { ["MaxDeliveryAttempts"] = "1", ["MaxOutageRetryDuration"] = "00:00:02" };
        var failing = new Script([.. Enumerable.Repeat<Func<Exception>>(() => new RedisTimeoutException("Timeout performing EVALSHA", CommandStatus.Sent), 1000)]);
        var healthy = new Script([]);
        await using var redis = await SharedRedis.Server.ConnectAsync();
        using var first = Build(service, settings, failing);
        await first.StartAsync();
        IHost? second = null;
        try
        {
            await TestHosts.Publisher(redis, service).AddStreamAsync("outage-forever");
            await Eventually.AssertAsync(() => failing.Visits.Count >= 2, TimeSpan.FromSeconds(20), "the failing handler is retried");
            Assert.That(failing.Visits.Take(2).Select(v => v.FencingToken).Distinct().Count(), Is.EqualTo(1), "an outage is retried under the same lease, not released at once");

            second = Build(service, settings, healthy);
            await second.StartAsync();
            await Eventually.AssertAsync(async () => await redis.GetDatabase().StreamLengthAsync(TestHosts.LbsKey(service)) == 0, TimeSpan.FromSeconds(40),
                "after MaxOutageRetryDuration the stream is released, and the healthy consumer completes it");
            Assert.Multiple(async () =>
            {
                Assert.That(healthy.Visits, Has.Count.EqualTo(1));
                Assert.That(await redis.GetDatabase().StreamLengthAsync(TestHosts.DeadLetterKey(service)), Is.Zero, "an outage never dead-letters");
            });
        }
        finally
        {
            await first.StopAsync();
            if (second is not null)
            {
                await second.StopAsync();
                second.Dispose();
            }
        }
    }

    private static IHost Build(string service, Dictionary<string, string?> settings, Script script)
    {
        var builder = TestHosts.NewBuilder(service, settings: settings);
        builder.Services.AddSingleton(script);
        builder.Services.AddRecoverableRedisStreams().AddHandler<ScriptedHandler>();
        return builder.Build();
    }

    /// <summary>The failures the handler throws, one per visit, in order; then it succeeds.</summary>
    internal sealed class Script(IReadOnlyList<Func<Exception>> failures)
    {
        public ConcurrentQueue<StreamWorkContext> Visits { get; } = new();

        public Exception? Next(StreamWorkContext context)
        {
            Visits.Enqueue(context);
            var index = Visits.Count - 1;
            return index < failures.Count ? failures[index]() : null;
        }
    }

    internal sealed class ScriptedHandler(Script script) : IStreamWorkHandler
    {
        public Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken) =>
            script.Next(context) is { } failure ? Task.FromException(failure) : Task.CompletedTask;
    }
}
