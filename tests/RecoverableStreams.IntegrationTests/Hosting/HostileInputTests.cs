using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RecoverableStreams.Hosting;
using RecoverableStreams.IntegrationTests.Infrastructure;

namespace RecoverableStreams.IntegrationTests.Hosting;

/// <summary>Hostile input in an announcement never pins a hosted worker's slot (issue 12, "Pinned by one announcement").</summary>
public sealed class HostileInputTests
{
    [Test]
    public async Task A_traceparent_that_is_a_lone_surrogate_does_not_pin_the_only_slot()
    {
        var service = TestOptions.NewServiceName();
        var recorder = new Recorder();
        var builder = TestHosts.NewBuilder(service, settings: new Dictionary<string, string?> { ["MaxConcurrentStreams"] = "1" });
        builder.Services.AddSingleton(recorder);
        builder.Services.AddRecoverableRedisStreams().AddHandler<RecordingHandler>();
        using var host = builder.Build();
        await using var redis = await SharedRedis.Server.ConnectAsync();

        // Valid JSON, not text: "\ud800" is a lone UTF-16 surrogate, which JsonElement.GetString() refuses.
        var hostile = "hostile-" + Guid.NewGuid().ToString("N")[..8];
        await redis.GetDatabase().StreamAddAsync(
            TestHosts.LbsKey(service),
            LbsInputMessage.FieldName,
            $$$"""{"DataStreamName":"{{{hostile}}}","Info":{"traceparent":"\ud800"}}""");
        await host.StartAsync();
        await TestHosts.Publisher(redis, service).AddStreamAsync("good-1");

        await Eventually.AssertAsync(() => recorder.For("good-1").Count == 1, TimeSpan.FromSeconds(20), "the good stream after the hostile one is handled");
        Assert.That(recorder.For(hostile), Has.Count.EqualTo(1), "the hostile stream is handled too: an unreadable trace context starts a new trace");
        await host.StopAsync();
    }

    internal sealed class RecordingHandler(Recorder recorder) : IStreamWorkHandler
    {
        public Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken)
        {
            recorder.Add(new Visit(nameof(RecordingHandler), context.DataStreamName, context.ConsumerId, context.Origin, context.Attempt));
            return Task.CompletedTask;
        }
    }
}
