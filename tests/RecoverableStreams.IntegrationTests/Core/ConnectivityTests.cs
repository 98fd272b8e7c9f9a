using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>Redis goes away and comes back: the client recovers by itself and keeps serving.</summary>
[Parallelizable(ParallelScope.Self)]
public sealed class ConnectivityTests
{
    // Longer than the connection's command timeout below: calls made during the outage time out, as in production.
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(3);

    private static Task<ConnectionMultiplexer> ConnectWithShortTimeoutsAsync(RedisServer server) =>
        ConnectionMultiplexer.ConnectAsync($"{server.EndPoint},allowAdmin=true,abortConnect=false,connectRetry=5,syncTimeout=1000,asyncTimeout=1000");

    [Test]
    public async Task Client_recovers_by_itself_after_a_persisted_Redis_restart_and_keeps_its_streams()
    {
        string[] persisted = ["--appendonly", "yes", "--appendfsync", "always"];
        await using var server = await RedisServer.StartAsync(persisted);
        await using var redis = await ConnectWithShortTimeoutsAsync(server);
        var service = TestOptions.NewServiceName();
        // A lease much longer than the outage: the streams must survive it without a single StreamDisowned.
        var options = TestOptions.For(service, lease: TimeSpan.FromSeconds(15));
        await using var consumer = await TestConsumer.StartAsync(redis, options);
        var publisher = new StreamPublisher(redis, options);
        var before = await publisher.AddStreamAsync("before-restart");
        await Eventually.AssertAsync(() => consumer.Owned.Any(l => l.IdInLbs == before), TimeSpan.FromSeconds(15), "the consumer owns the first stream");
        var lease = consumer.Owned.Single(l => l.IdInLbs == before);

        await server.StopProcessAsync();
        // The outage itself is the scenario (not a wait for something to happen).
        await Task.Delay(Outage);
        await using var restarted = await server.RestartAsync(persisted);

        var after = await AnnounceOnceRedisAnswersAsync(publisher, "after-restart");
        await Eventually.AssertAsync(() => consumer.Owned.Any(l => l.IdInLbs == after), TimeSpan.FromSeconds(30), "the consumer serves a stream announced after the restart");

        var expiresBefore = lease.ExpiresAt;
        await Eventually.AssertAsync(() => lease.ExpiresAt > expiresBefore, TimeSpan.FromSeconds(15), "the first lease is renewed again after the restart");
        Assert.Multiple(async () =>
        {
            Assert.That(lease.IsOwned, Is.True, "the first stream is still owned");
            Assert.That(consumer.Of(StreamNotificationType.StreamDisowned), Is.Empty, "nothing was disowned by the outage");
            Assert.That(consumer.Of(StreamNotificationType.StreamTerminated), Is.Empty, "the client never terminated");
            Assert.That(consumer.Client.IsRunning, Is.True);
            var keys = StreamKeys.For(options);
            Assert.That((string?)await redis.GetDatabase().HashGetAsync(keys.Owners, before), Is.EqualTo(lease.LeaseValue), "Redis still holds this consumer's lease");
        });

        // Stop the consumer while the restarted server still runs (it is disposed first, being declared last).
        await consumer.DisposeAsync();
    }

    [Test]
    public async Task Client_recreates_the_group_and_serves_new_streams_after_a_restart_that_lost_the_data()
    {
        await using var server = await RedisServer.StartOwnAsync();
        await using var redis = await ConnectWithShortTimeoutsAsync(server);
        var service = TestOptions.NewServiceName();
        var options = TestOptions.For(service);
        await using var consumer = await TestConsumer.StartAsync(redis, options);
        var publisher = new StreamPublisher(redis, options);
        var before = await publisher.AddStreamAsync("before-restart");
        await Eventually.AssertAsync(() => consumer.Owned.Any(l => l.IdInLbs == before), TimeSpan.FromSeconds(15), "the consumer owns the first stream");

        await server.StopProcessAsync();
        await Task.Delay(Outage);
        await using var restarted = await server.RestartAsync();
        var keys = StreamKeys.For(options);
        var db = redis.GetDatabase();
        await Eventually.AssertAsync(async () =>
        {
            try
            {
                // The consumer may already have recreated the LBS and group, but never the old lease.
                return !await db.HashExistsAsync(keys.Owners, before);
            }
            catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(30), "the restarted server answers, without the old data");

        var after = await AnnounceOnceRedisAnswersAsync(publisher, "after-restart");

        await Eventually.AssertAsync(() => consumer.Owned.Any(l => l.IdInLbs == after), TimeSpan.FromSeconds(30), "the consumer serves a stream announced after the restart");
        var groups = await db.StreamGroupInfoAsync(keys.Lbs);
        var serverApi = redis.GetServer(server.EndPoint);
        await Eventually.AssertAsync(async () =>
        {
            var flags = (await serverApi.ConfigGetAsync("notify-keyspace-events")).Single().Value;
            return flags.Contains('K', StringComparison.Ordinal) && flags.Contains('x', StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(15), "the keyspace notification flags are set again on the restarted server");
        Assert.Multiple(() =>
        {
            Assert.That(groups.Select(g => g.Name), Is.EqualTo(new[] { keys.Group }), "the consumer group was recreated");
            Assert.That(consumer.Notifications.Any(n => n.Payload.IdInLbs == after && n.Type == StreamNotificationType.StreamAdded), Is.True, "the new stream was announced");
            Assert.That(consumer.Of(StreamNotificationType.StreamTerminated), Is.Empty, "the client never terminated");
            Assert.That(consumer.Client.IsRunning, Is.True);
        });

        // Stop the consumer while the restarted server still runs (it is disposed first, being declared last).
        await consumer.DisposeAsync();
    }

    [Test]
    public async Task Client_keeps_serving_after_Redis_stalls_longer_than_the_command_timeout()
    {
        await using var server = await RedisServer.StartOwnAsync();
        await using var redis = await ConnectWithShortTimeoutsAsync(server);
        await using var admin = await server.ConnectAsync();
        var options = TestOptions.For(lease: TimeSpan.FromSeconds(15));
        options.RenewInterval = TimeSpan.FromMilliseconds(300);
        using var logs = new LogCapture();
        await using var consumer = await TestConsumer.StartAsync(redis, options, logs.Factory);
        var publisher = new StreamPublisher(admin, options);
        var before = await publisher.AddStreamAsync("before-stall");
        await Eventually.AssertAsync(() => consumer.Owned.Any(l => l.IdInLbs == before), TimeSpan.FromSeconds(15), "the consumer owns the first stream");
        var lease = consumer.Owned.Single(l => l.IdInLbs == before);

        // Every client's commands wait 3 s: the consumer's renewals and reads in flight time out (RedisTimeoutException).
        await admin.GetDatabase().ExecuteAsync("CLIENT", "PAUSE", ((long)Outage.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture), "ALL");
        await Task.Delay(Outage);

        // The stall bit: a call of the consumer timed out (the client logs the failure with its exception).
        static bool TimedOut(Exception? ex) => ex is not null && (ex is RedisTimeoutException || TimedOut(ex.InnerException));
        await Eventually.AssertAsync(() => logs.Records.Any(r => TimedOut(r.Exception)), TimeSpan.FromSeconds(15),
            "a command of the consumer timed out during the stall (RedisTimeoutException logged)");

        var after = await publisher.AddStreamAsync("after-stall");
        await Eventually.AssertAsync(() => consumer.Owned.Any(l => l.IdInLbs == after), TimeSpan.FromSeconds(15), "the consumer serves a stream announced after the stall");
        var expiresBefore = lease.ExpiresAt;
        await Eventually.AssertAsync(() => lease.ExpiresAt > expiresBefore, TimeSpan.FromSeconds(15), "the first lease is renewed again after the stall");
        Assert.Multiple(() =>
        {
            Assert.That(lease.IsOwned, Is.True);
            Assert.That(consumer.Of(StreamNotificationType.StreamDisowned), Is.Empty);
            Assert.That(consumer.Of(StreamNotificationType.StreamTerminated), Is.Empty);
        });
    }

    /// <summary>Announces a stream as soon as the restarted server takes writes again.</summary>
    private static async Task<string> AnnounceOnceRedisAnswersAsync(StreamPublisher publisher, string dataStreamName)
    {
        string? id = null;
        await Eventually.AssertAsync(async () =>
        {
            try
            {
                id ??= await publisher.AddStreamAsync(dataStreamName);
                return true;
            }
            catch (Exception ex) when (ex is RecoverableStreamsException or RedisTimeoutException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(30), "the publisher can write again after the restart");
        return id!;
    }
}
