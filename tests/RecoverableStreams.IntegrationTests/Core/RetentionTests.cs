using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

/// <summary>
/// <see cref="RecoverableStreamOptions.DataStreamRetention"/>: what happens to a data stream's key when its stream is
/// completed or dead-lettered, applied in the completion's own script.
/// </summary>
[Parallelizable(ParallelScope.Self)]
public sealed class RetentionTests : SharedRedisTest
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Keep_leaves_a_completed_data_stream_as_it_was()
    {
        var (db, name) = await CompleteAsync(DataStreamRetention.Keep, deadLetter: false);
        Assert.Multiple(async () =>
        {
            Assert.That(await db.KeyExistsAsync(name), Is.True);
            Assert.That(await db.KeyTimeToLiveAsync(name), Is.Null, "no expiry set");
        });
    }

    [Test]
    public async Task Delete_removes_the_data_stream_with_its_completion()
    {
        var (db, name) = await CompleteAsync(DataStreamRetention.Delete, deadLetter: false);
        Assert.That(await db.KeyExistsAsync(name), Is.False);
    }

    [Test]
    public async Task Delete_removes_the_data_stream_with_its_dead_letter()
    {
        var (db, name) = await CompleteAsync(DataStreamRetention.Delete, deadLetter: true);
        Assert.That(await db.KeyExistsAsync(name), Is.False);
    }

    [Test]
    public async Task Expire_sets_the_retention_period_on_a_completed_data_stream()
    {
        var (db, name) = await CompleteAsync(DataStreamRetention.Expire, deadLetter: false);
        var ttl = await db.KeyTimeToLiveAsync(name);
        Assert.That(ttl, Is.Not.Null.And.GreaterThan(TimeSpan.FromMinutes(59)).And.LessThanOrEqualTo(TimeSpan.FromHours(1)));
    }

    [Test]
    public async Task Expire_sets_the_retention_period_on_a_dead_lettered_data_stream()
    {
        var (db, name) = await CompleteAsync(DataStreamRetention.Expire, deadLetter: true);
        var ttl = await db.KeyTimeToLiveAsync(name);
        Assert.That(ttl, Is.Not.Null.And.GreaterThan(TimeSpan.FromMinutes(59)).And.LessThanOrEqualTo(TimeSpan.FromHours(1)));
    }

    [Test]
    public async Task A_data_stream_named_after_the_services_own_dead_letter_stream_is_never_deleted()
    {
        // A hostile announcement whose data stream is the service's dead-letter stream (a stream too): Delete must not
        // take the service's own key with it.
        var options = Options(DataStreamRetention.Delete);
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        await db.StreamAddAsync(keys.Dead, "earlier", "letter");

        await CompleteAsync(options, keys.Dead, deadLetter: false);

        Assert.That(await db.StreamLengthAsync(keys.Dead), Is.EqualTo(1), "the dead-letter stream is intact");
    }

    private RecoverableStreamOptions Options(DataStreamRetention retention)
    {
        var options = TestOptions.For(autoClaim: true);
        options.DataStreamRetention = retention;
        options.DataStreamRetentionPeriod = TimeSpan.FromHours(1);
        return options;
    }

    private async Task<(IDatabase Db, string Name)> CompleteAsync(DataStreamRetention retention, bool deadLetter)
    {
        var name = "retained-" + Guid.NewGuid().ToString("N")[..12];
        var db = Redis.GetDatabase();
        await db.StreamAddAsync(name, "v", 1);
        await CompleteAsync(Options(retention), name, deadLetter);
        return (db, name);
    }

    private async Task CompleteAsync(RecoverableStreamOptions options, string name, bool deadLetter)
    {
        await using var consumer = await TestConsumer.StartAsync(Redis, options);
        var id = await new StreamPublisher(Redis, options).AddStreamAsync(name);
        await Eventually.AssertAsync(() => consumer.Owned.Any(l => l.IdInLbs == id), Deadline, $"the consumer owns {name}");
        var lease = consumer.Owned.Single(l => l.IdInLbs == id);

        if (deadLetter)
        {
            await lease.DeadLetterAsync("poison");
        }
        else
        {
            await lease.CompleteAsync();
        }

        Assert.That(await Redis.GetDatabase().HashExistsAsync(StreamKeys.For(options).Owners, id), Is.False, "the stream ended in Redis");
    }
}
