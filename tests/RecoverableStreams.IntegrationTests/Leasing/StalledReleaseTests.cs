using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Leasing;

/// <summary>
/// Stalled handlers (<see cref="RecoverableStreamOptions.HandlerStallTimeout"/>) end here and are released in batches,
/// off the renewal loop: 2,500 stalled streams are released in a few flights of pages of at most 1,000 (each flight
/// wakes peers once, naming its streams), not one release per stream, and the session lives on through it.
/// </summary>
public sealed class StalledReleaseTests : SharedRedisTest
{
    private const int Streams = 2_500;

    [Test]
    public async Task Two_thousand_five_hundred_stalled_streams_are_released_in_a_few_batches_and_the_session_lives_on()
    {
        var service = TestOptions.NewServiceName();
        var options = TestOptions.For(service, lease: TimeSpan.FromSeconds(10), autoClaim: false, maxConcurrentStreams: Streams);
        options.HandlerStallTimeout = TimeSpan.FromSeconds(2);
        await using var consumer = await TestConsumer.StartAsync(Redis, options);
        var keys = StreamKeys.For(options);
        var wakeUps = new List<string[]>();
        var channel = RedisChannel.Literal(keys.Events);
        var subscriber = Redis.GetSubscriber();
        await subscriber.SubscribeAsync(channel, (_, message) =>
        {
            var text = (string?)message ?? "";
            if (text.StartsWith("released ", StringComparison.Ordinal))
            {
                lock (wakeUps)
                {
                    wakeUps.Add(text["released ".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries));
                }
            }
        });
        try
        {
            var publisher = new StreamPublisher(Redis, TestOptions.For(service));
            await Task.WhenAll(Enumerable.Range(0, Streams).Select(i => publisher.AddStreamAsync($"{service}:data:{i}")));
            await Eventually.AssertAsync(() => consumer.Client.OwnedStreams.Count == Streams, TimeSpan.FromSeconds(120), $"the consumer owns all {Streams} streams");
            var leases = consumer.Client.OwnedStreams.ToArray();
            var session = leases[0].LeaseValue[..leases[0].LeaseValue.LastIndexOf('|')];

            // No handler reads: every stream is stalled after HandlerStallTimeout and released.
            await Eventually.AssertAsync(() => leases.All(l => l.EndReason == LeaseEndReason.Stalled), TimeSpan.FromSeconds(60), "every stalled stream ended here as Stalled");
            var db = Redis.GetDatabase();
            await Eventually.AssertAsync(async () => await db.SortedSetLengthAsync(keys.Free) == Streams, TimeSpan.FromSeconds(30), "and was released in Redis (free now)");
            // The wake-ups are published by the same scripts and arrive a moment later on the subscription.
            await Eventually.TrueAsync(() => { lock (wakeUps) { return wakeUps.Sum(w => w.Length) >= Streams; } }, TimeSpan.FromSeconds(10));
            string[][] flights;
            lock (wakeUps)
            {
                flights = [.. wakeUps];
            }

            var now = await Ownership.ServerNowMsAsync(db);
            var deadline = await db.SortedSetScoreAsync(keys.Sessions, session);
            Assert.Multiple(() =>
            {
                Assert.That(flights.SelectMany(f => f).Distinct().Count(), Is.EqualTo(Streams), "the wake-ups name every released stream");
                Assert.That(flights, Has.Length.InRange(1, 5), "a few flights, each waking peers once, not one release per stream");
                Assert.That(deadline, Is.GreaterThan(now), "the session still lives (the renewals went on)");
                Assert.That(leases.Count(l => l.EndReason == LeaseEndReason.SessionEnded), Is.Zero);
            });
        }
        finally
        {
            await subscriber.UnsubscribeAsync(channel);
        }
    }
}
