using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

public sealed class AssignmentTests
{
    private ConnectionMultiplexer _redis = null!;

    [SetUp]
    public async Task ConnectAsync() => _redis = await SharedRedis.Server.ConnectAsync();

    [TearDown]
    public async Task DisconnectAsync() => await _redis.DisposeAsync();

    [Test]
    public async Task Two_consumers_two_streams_each_consumer_gets_one_with_its_info()
    {
        var service = TestOptions.NewServiceName();
        await using var first = await TestConsumer.StartAsync(_redis, TestOptions.For(service, maxConcurrentStreams: 1));
        await using var second = await TestConsumer.StartAsync(_redis, TestOptions.For(service, maxConcurrentStreams: 1));
        var publisher = new StreamPublisher(_redis, TestOptions.For(service));

        await publisher.AddStreamAsync("session-a", new Dictionary<string, object?> { ["device"] = "a", ["n"] = 1 });
        await publisher.AddStreamAsync("session-b", new Dictionary<string, object?> { ["device"] = "b", ["n"] = 2 });

        await Eventually.AssertAsync(() => first.Of(StreamNotificationType.StreamAdded).Count == 1 && second.Of(StreamNotificationType.StreamAdded).Count == 1,
            TimeSpan.FromSeconds(10), "each consumer gets one StreamAdded");
        var a = first.Of(StreamNotificationType.StreamAdded)[0];
        var b = second.Of(StreamNotificationType.StreamAdded)[0];
        Assert.That(new[] { a.Payload.DataStreamName, b.Payload.DataStreamName }, Is.EquivalentTo(new[] { "session-a", "session-b" }));
        foreach (var added in new[] { a, b })
        {
            var device = added.Payload.DataStreamName[^1..];
            Assert.That(added.AdditionalInfo!["device"].GetString(), Is.EqualTo(device));
            Assert.That(added.Lease, Is.Not.Null);
            Assert.That(added.Lease!.IsOwned, Is.True);
        }
    }
}
