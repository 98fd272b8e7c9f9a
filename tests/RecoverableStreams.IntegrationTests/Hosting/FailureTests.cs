using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RecoverableStreams.Hosting;
using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Hosting;

public sealed class FailureTests
{
    [Test]
    public async Task A_throwing_handler_is_retried_up_to_MaxDeliveryAttempts_across_a_restart_then_dead_lettered()
    {
        var service = TestOptions.NewServiceName();
        var settings = new Dictionary<string, string?> { ["MaxDeliveryAttempts"] = "3" };
        var message = "boom-" + Guid.NewGuid().ToString("N")[..8];
        await using var redis = await SharedRedis.Server.ConnectAsync();

        // First host: attempt 1 throws; later attempts wait until the host stops (a stop is not a failure).
        var first = new Recorder();
        using (var host = Build(service, settings, first, new Behaviour(message, ThrowOnlyOnFirstAttempt: true)))
        {
            await host.StartAsync();
            await TestHosts.Publisher(redis, service).AddStreamAsync("job-1");
            await Eventually.AssertAsync(() => first.Visits.Any(v => v.Attempt == 2), TimeSpan.FromSeconds(20), "the failed stream is retried (attempt 2)");
            await host.StopAsync();
        }

        Assert.That(first.Visits.Select(v => v.Attempt), Is.EqualTo(new[] { 1, 2 }));
        var stored = await redis.GetDatabase().HashValuesAsync(TestHosts.AttemptsKey(service));
        Assert.That(stored.Select(v => (long)v), Is.EqualTo(new[] { 1L }), "one failed attempt is counted in Redis; the stop did not count");

        // Second host (a restart): continues from the stored count and dead-letters at the limit.
        var second = new Recorder();
        var events = new EventLog();
        using (var host = Build(service, settings, second, new Behaviour(message, ThrowOnlyOnFirstAttempt: false), events))
        {
            await host.StartAsync();
            StreamEntry[] dead = [];
            await Eventually.AssertAsync(async () => (dead = await redis.GetDatabase().StreamRangeAsync(TestHosts.DeadLetterKey(service))).Length == 1,
                TimeSpan.FromSeconds(30), "the stream is dead-lettered after the third failed attempt");
            await host.StopAsync();

            Assert.That(second.Visits.Select(v => v.Attempt), Is.EqualTo(new[] { 2, 3 }), "the attempt count survived the restart");
            Assert.That((string?)dead[0]["reason"], Does.Contain(message).And.Contain(nameof(InvalidOperationException)));
            Assert.That((string?)dead[0]["attempts"], Is.EqualTo("3"));
            Assert.That(await redis.GetDatabase().StreamLengthAsync(TestHosts.LbsKey(service)), Is.Zero, "dead-lettering completes the LBS entry");

            var kinds = events.Events.Select(e => e.Kind).ToArray();
            Assert.That(kinds, Is.EqualTo(new[]
            {
                StreamLifecycleEventKind.Claimed, StreamLifecycleEventKind.Failed, StreamLifecycleEventKind.Released,
                StreamLifecycleEventKind.Claimed, StreamLifecycleEventKind.Failed, StreamLifecycleEventKind.DeadLettered,
            }), "observers see every step, in order, even though another observer throws");
            var deadLettered = events.Events.Last();
            Assert.That(deadLettered.Reason, Does.Contain(message));
            Assert.That(deadLettered.Exception, Is.InstanceOf<InvalidOperationException>());
            Assert.That(deadLettered.Attempt, Is.EqualTo(3));
        }
    }

    private static IHost Build(string service, Dictionary<string, string?> settings, Recorder recorder, Behaviour behaviour, EventLog? events = null)
    {
        var builder = TestHosts.NewBuilder(service, settings: settings);
        if (events is not null)
        {
            builder.Services.AddSingleton<IStreamLifecycleObserver, ThrowingObserver>();
            builder.Services.AddSingleton<IStreamLifecycleObserver>(events);
        }

        builder.Services.AddSingleton(recorder);
        builder.Services.AddSingleton(behaviour);
        builder.Services.AddRecoverableRedisStreams().AddHandler<FailingHandler>();
        return builder.Build();
    }

    internal sealed class EventLog : IStreamLifecycleObserver
    {
        public System.Collections.Concurrent.ConcurrentQueue<StreamLifecycleEvent> Events { get; } = new();

        public Task OnStreamEventAsync(StreamLifecycleEvent lifecycleEvent, CancellationToken cancellationToken)
        {
            Events.Enqueue(lifecycleEvent);
            return Task.CompletedTask;
        }
    }

    internal sealed class ThrowingObserver : IStreamLifecycleObserver
    {
        public Task OnStreamEventAsync(StreamLifecycleEvent lifecycleEvent, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("observer failure");
    }

    internal sealed record Behaviour(string Message, bool ThrowOnlyOnFirstAttempt);

    internal sealed class FailingHandler(Recorder recorder, Behaviour behaviour) : IStreamWorkHandler
    {
        public async Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken)
        {
            recorder.Add(new Visit(nameof(FailingHandler), context.DataStreamName, context.ConsumerId, context.Origin, context.Attempt));
            if (behaviour.ThrowOnlyOnFirstAttempt && context.Attempt > 1)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            throw new InvalidOperationException(behaviour.Message);
        }
    }
}
