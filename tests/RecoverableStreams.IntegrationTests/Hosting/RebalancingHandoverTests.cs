using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RecoverableStreams.IntegrationTests.Infrastructure;

namespace RecoverableStreams.IntegrationTests.Hosting;

public sealed class RebalancingHandoverTests
{
    [Test]
    public async Task A_stream_handed_over_to_a_host_that_joins_late_has_its_handler_cancelled_and_resumes_from_the_checkpoint_on_the_newcomer()
    {
        var service = TestOptions.NewServiceName();
        var lease = TimeSpan.FromSeconds(3);
        await using var redis = await SharedRedis.Server.ConnectAsync();
        var db = redis.GetDatabase();
        // Data streams of this test alone: other tests on the shared server use names like "dev-1" too.
        var streams = new[] { "dev-1", "dev-2", "dev-3", "dev-4" }.Select(name => service + ":" + name).ToArray();
        foreach (var stream in streams)
        {
            for (var i = 0; i < 5; i++)
            {
                await db.StreamAddAsync(stream, "n", i);
            }
        }

        var seenByA = new HandoverTests.CheckpointingHandler.Log();
        var seenByB = new HandoverTests.CheckpointingHandler.Log();
        using var hostA = Build(service, lease, "host-a", seenByA);
        using var hostB = Build(service, lease, "host-b", seenByB);
        await hostA.StartAsync();
        try
        {
            var publisher = TestHosts.Publisher(redis, service);
            foreach (var stream in streams)
            {
                await publisher.AddStreamAsync(stream);
            }

            await Eventually.AssertAsync(() => streams.All(s => seenByA.Entries(s).Count == 5), TimeSpan.FromSeconds(30), "host A processes and checkpoints every entry");
            await hostB.StartAsync();

            // Fair shares: two streams each. Host A hands two over; host B claims them.
            await Eventually.AssertAsync(() => seenByB.Sessions.Count == 2, TimeSpan.FromSeconds(30), "host B takes over two streams");
            var moved = seenByB.Sessions.Keys.ToArray();
            await Eventually.AssertAsync(() => moved.All(seenByA.Cancelled.ContainsKey), TimeSpan.FromSeconds(30), "host A's handlers of the moved streams see the cancellation");
            Assert.That(seenByA.Cancelled.Keys, Is.EquivalentTo(moved), "only the moved streams were cancelled on host A");
            Assert.That(seenByB.Sessions.Values.Select(v => v.Origin), Is.All.EqualTo(LeaseOrigin.Claimed));
            Assert.That(await db.StreamLengthAsync(TestHosts.LbsKey(service)), Is.EqualTo(4), "nothing was completed by the cancelled handlers");

            var newIds = new Dictionary<string, string>();
            foreach (var stream in streams)
            {
                newIds[stream] = (await db.StreamAddAsync(stream, "n", 5)).ToString();
            }

            await Eventually.AssertAsync(() => moved.All(s => seenByB.Entries(s).Count >= 1), TimeSpan.FromSeconds(30), "host B reads the new entries of its streams");
            foreach (var stream in moved)
            {
                Assert.That(seenByB.Entries(stream), Is.EqualTo(new[] { newIds[stream] }), $"host B resumes {stream} after host A's checkpoint");
            }

            var kept = streams.Except(moved).ToArray();
            await Eventually.AssertAsync(() => kept.All(s => seenByA.Entries(s).Count == 6), TimeSpan.FromSeconds(30), "host A keeps processing the streams it kept");
            Assert.That(seenByB.Sessions.Keys, Is.EquivalentTo(moved), "no stream moved twice");
        }
        finally
        {
            await hostB.StopAsync();
            await hostA.StopAsync();
        }
    }

    private static IHost Build(string service, TimeSpan lease, string consumerId, HandoverTests.CheckpointingHandler.Log log)
    {
        var builder = TestHosts.NewBuilder(service, lease: lease, consumerId: consumerId);
        builder.Services.AddSingleton(log);
        builder.Services.AddRecoverableRedisStreams().AddHandler<HandoverTests.CheckpointingHandler>();
        return builder.Build();
    }
}
