using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>Keeping a lease alive: failed renewals, and leases claimed with a token that is later cancelled.</summary>
[Parallelizable(ParallelScope.Self)]
public sealed class RenewalTests : SharedRedisTest
{
    private const int RenewalFailedEventId = 400;

    [Test]
    public async Task A_failed_renewal_does_not_disown_a_stream_whose_lease_still_has_time()
    {
        var logs = new LogCapture();
        var options = TestOptions.For(lease: TimeSpan.FromSeconds(4));
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        await using var consumer = await TestConsumer.StartAsync(Redis, options, logs.Factory);
        var id = await new StreamPublisher(Redis, options).AddStreamAsync("renewed-session");
        await Eventually.AssertAsync(() => consumer.Owned.Any(l => l.IdInLbs == id), TimeSpan.FromSeconds(15), "the consumer owns the stream");
        var lease = consumer.Owned.Single(l => l.IdInLbs == id);

        // The renew script reads the sessions key first: a string there makes the renewal fail with WRONGTYPE, a
        // real Redis error, until the key is put back (with the session's deadline as it was).
        var parked = keys.Prefix + ":parked";
        // Swapped atomically (MULTI): a script that ran between the two would find the session gone, and end it.
        var swap = db.CreateTransaction();
        _ = swap.KeyRenameAsync(keys.Sessions, parked);
        _ = swap.StringSetAsync(keys.Sessions, "not-a-sorted-set");
        Assert.That(await swap.ExecuteAsync(), Is.True);
        try
        {
            await Eventually.AssertAsync(() => logs.WithEventId(RenewalFailedEventId).Count > 0, TimeSpan.FromSeconds(10), "a renewal fails");
        }
        finally
        {
            var restore = db.CreateTransaction();
            _ = restore.KeyDeleteAsync(keys.Sessions);
            _ = restore.KeyRenameAsync(parked, keys.Sessions);
            await restore.ExecuteAsync();
        }

        var expiresAfterFailure = lease.ExpiresAt;
        var renewed = await Eventually.TrueAsync(() => lease.ExpiresAt > expiresAfterFailure, TimeSpan.FromSeconds(10));
        Assert.That(renewed, Is.True, () => "a later renewal succeeds: " + string.Join("\n", logs.Records.Where(r => r.Level >= Microsoft.Extensions.Logging.LogLevel.Information)));
        var deadline = await Ownership.DeadlineAsync(db, keys, lease.Session.Id);
        var serverNow = await Ownership.ServerNowMsAsync(db);
        Assert.Multiple(async () =>
        {
            Assert.That(consumer.Of(StreamNotificationType.StreamDisowned), Is.Empty, "the failed renewal disowned nothing");
            Assert.That(lease.IsOwned, Is.True);
            Assert.That(consumer.Owned.Select(l => l.IdInLbs), Does.Contain(id));
            Assert.That((string?)await db.HashGetAsync(keys.Owners, id), Is.EqualTo(lease.LeaseValue), "Redis holds this consumer's ownership record");
            Assert.That(deadline, Is.GreaterThan(serverNow), "the session has time left");
        });
    }

    [Test]
    public async Task A_control_key_of_the_wrong_type_makes_reads_fail_and_retry_without_stopping_the_client()
    {
        const int ReadFailedEventId = 401;
        var logs = new LogCapture();
        var options = TestOptions.For(lease: TimeSpan.FromSeconds(10));
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        await using var consumer = await TestConsumer.StartAsync(Redis, options, logs.Factory);
        var parked = keys.Prefix + ":parked";
        var swap = db.CreateTransaction();
        _ = swap.KeyRenameAsync(keys.Sessions, parked);
        _ = swap.StringSetAsync(keys.Sessions, "not-a-sorted-set");
        Assert.That(await swap.ExecuteAsync(), Is.True);
        try
        {
            // The read script checks the session first: WRONGTYPE from a control key, not from the LBS.
            await db.PublishAsync(RedisChannel.Literal(keys.Events), "added");
            await Eventually.AssertAsync(() => logs.WithEventId(ReadFailedEventId).Count > 0, TimeSpan.FromSeconds(10), "a read fails");
        }
        finally
        {
            var restore = db.CreateTransaction();
            _ = restore.KeyDeleteAsync(keys.Sessions);
            _ = restore.KeyRenameAsync(parked, keys.Sessions);
            await restore.ExecuteAsync();
        }

        var id = await new StreamPublisher(Redis, options).AddStreamAsync("after-wrongtype");
        await Eventually.AssertAsync(() => consumer.Owned.Any(l => l.IdInLbs == id), TimeSpan.FromSeconds(15), "the client still reads");
        Assert.That(consumer.Client.IsRunning, Is.True);
    }

    [Test]
    public async Task A_lease_obtained_through_ClaimAsync_keeps_renewing_after_the_callers_token_is_cancelled()
    {
        var service = TestOptions.NewServiceName();
        var options = TestOptions.For(service, consumerId: "first");
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        await using var first = await TestConsumer.StartAsync(Redis, options);
        var id = await new StreamPublisher(Redis, options).AddStreamAsync("claimed-session");
        await Eventually.AssertAsync(() => first.Owned.Any(l => l.IdInLbs == id), TimeSpan.FromSeconds(15), "the first consumer owns the stream");
        await using var claimer = await TestConsumer.StartAsync(Redis, TestOptions.For(service, consumerId: "claimer"));
        await first.Client.ReleaseStreamAsync("claimed-session");
        // Told once, as released (or as expired, when its sweep ran before the release event arrived).
        var told = await Eventually.TrueAsync(() => claimer.Notifications.Any(n => n.Payload.IdInLbs == id && n.Type is StreamNotificationType.StreamReleased or StreamNotificationType.StreamExpired), TimeSpan.FromSeconds(15));
        Assert.That(told, Is.True, () => "the claimer is told the stream needs an owner: " + string.Join(" / ", claimer.Notifications));

        StreamLease lease;
        using (var callerToken = new CancellationTokenSource())
        {
            lease = await claimer.Client.ClaimAsync(new LbsInfo("claimed-session", id), callerToken.Token);
            await callerToken.CancelAsync();
        }

        // Watch for several lease durations: the lease must stay alive in Redis the whole time.
        var watch = options.LeaseDuration * 4;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var samples = 0;
        while (clock.Elapsed < watch)
        {
            var deadline = await Ownership.DeadlineAsync(db, keys, lease.Session.Id);
            Assert.That(deadline, Is.GreaterThan(await Ownership.ServerNowMsAsync(db)), $"the session has time left at {clock.Elapsed.TotalSeconds:0.0} s");
            Assert.That(lease.IsOwned, Is.True, $"still owned at {clock.Elapsed.TotalSeconds:0.0} s");
            samples++;
            await Task.Delay(100);
        }

        Assert.Multiple(async () =>
        {
            Assert.That(samples, Is.GreaterThan(10));
            Assert.That((string?)await db.HashGetAsync(keys.Owners, id), Is.EqualTo(lease.LeaseValue));
            Assert.That(claimer.Of(StreamNotificationType.StreamDisowned), Is.Empty);
        });
    }
}
