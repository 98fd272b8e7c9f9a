using RecoverableStreams.IntegrationTests.Infrastructure;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>A connection without allowAdmin cannot run CONFIG; that is a warning, never a failure.</summary>
public sealed class NoAdminConnectionTests
{
    [Test]
    public async Task A_consumer_on_a_connection_without_allowAdmin_starts_and_gets_announced_streams()
    {
        await using var redis = await SharedRedis.Server.ConnectAsync(allowAdmin: false);
        var service = TestOptions.NewServiceName();
        await using var consumer = await TestConsumer.StartAsync(redis, TestOptions.For(service));

        await new StreamPublisher(redis, TestOptions.For(service)).AddStreamAsync("no-admin-stream");

        await Eventually.AssertAsync(() => consumer.Of(StreamNotificationType.StreamAdded).Count == 1,
            TimeSpan.FromSeconds(10), "the consumer gets the stream although CONFIG is refused");
        Assert.That(consumer.Of(StreamNotificationType.StreamAdded)[0].Payload.DataStreamName, Is.EqualTo("no-admin-stream"));
    }
}
