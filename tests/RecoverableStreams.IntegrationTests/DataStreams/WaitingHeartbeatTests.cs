using RecoverableStreams.IntegrationTests.Infrastructure;

namespace RecoverableStreams.IntegrationTests.DataStreams;

/// <summary>A handler sleeping in ReadEntriesAsync is reading, not stalled (HandlerStallTimeout), with no Redis calls.</summary>
[Parallelizable(ParallelScope.Self)]
public sealed class WaitingHeartbeatTests : SharedRedisTest
{
    [Test]
    public async Task A_handler_waiting_for_entries_keeps_its_stream_past_HandlerStallTimeout_while_an_idle_one_loses_it()
    {
        var service = TestOptions.NewServiceName();
        var waitingStream = service + ":waiting";
        var idleStream = service + ":idle";
        var options = TestOptions.For(service, lease: TimeSpan.FromSeconds(2), autoClaim: true);
        options.HandlerStallTimeout = TimeSpan.FromSeconds(1.5);
        options.DeliveryCheckInterval = TimeSpan.FromSeconds(1);
        await using var consumer = await TestConsumer.StartAsync(Redis, options);
        var publisher = new StreamPublisher(Redis, TestOptions.For(service));
        await publisher.AddStreamAsync(waitingStream);
        await publisher.AddStreamAsync(idleStream);
        await Eventually.AssertAsync(() => consumer.Owned.Count == 2, TimeSpan.FromSeconds(15), "the consumer owns both streams");
        var waitingLease = consumer.Owned.Single(l => l.DataStreamName == waitingStream);
        var idleLease = consumer.Owned.Single(l => l.DataStreamName == idleStream);

        var reading = Task.Run(async () =>
        {
            await foreach (var entry in waitingLease.ReadEntriesAsync())
            {
                // Nothing is ever added.
            }
        });
        await Eventually.AssertAsync(() => consumer.Client.DataStreams.WaitingReaders == 1, TimeSpan.FromSeconds(15), "the handler waits for entries");

        // The control: the handler that does nothing is found stalled, so stall detection is on.
        await Eventually.AssertAsync(() => !idleLease.IsOwned, TimeSpan.FromSeconds(30), "the idle handler's stream is lost to HandlerStallTimeout");
        // Delivery checks run once a second: four of them span several stall windows.
        var checks = consumer.Client.DataStreams.DeliveryProofs + consumer.Client.DataStreams.DeliveryMisses;
        await Eventually.AssertAsync(() => consumer.Client.DataStreams.DeliveryProofs + consumer.Client.DataStreams.DeliveryMisses >= checks + 4, TimeSpan.FromSeconds(60), "several more stall windows pass");

        Assert.Multiple(() =>
        {
            Assert.That(waitingLease.IsOwned, Is.True, "the waiting handler keeps its stream");
            Assert.That(reading.IsCompleted, Is.False, "and is still waiting");
        });
    }
}
