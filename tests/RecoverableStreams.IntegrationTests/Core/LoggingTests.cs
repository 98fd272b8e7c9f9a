using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

public sealed class LoggingTests : SharedRedisTest
{
    [Test]
    public async Task Logs_go_through_the_logger_factory_given_to_the_client()
    {
        var capture = new LogCapture();
        using var factory = capture.Factory;
        var options = TestOptions.For();
        await using (var consumer = await TestConsumer.StartAsync(Redis, options, factory))
        {
            var started = capture.WithEventId(100);
            Assert.That(started, Has.Count.EqualTo(1));
            Assert.That(started[0].EventId.Name, Is.EqualTo("ClientStarted"));
            Assert.That(started[0].Values["ConsumerId"], Is.EqualTo(options.ConsumerId));
            Assert.That(started[0].Message, Does.Contain(options.ConsumerId));
            Assert.That(started[0].Category, Does.StartWith("RecoverableStreams"));
        }

        var stopped = capture.WithEventId(101);
        Assert.That(stopped, Has.Count.EqualTo(1));
        Assert.That(stopped[0].Values["ConsumerId"], Is.EqualTo(options.ConsumerId));
    }
}
