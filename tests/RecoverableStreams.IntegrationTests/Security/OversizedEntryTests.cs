using System.Globalization;
using System.Text.Json;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Security;

/// <summary>
/// Entries over a size or field limit are stopped inside <c>read_acquire.lua</c>: their payload never travels to a
/// worker, the dead letter keeps a truncated copy, one bad entry never strands the others of its batch, and nothing of
/// a malformed entry stays in <c>{L}:names</c>.
/// </summary>
public sealed class OversizedEntryTests : SharedRedisTest
{
    // 20 MB rather than the 100 MB: the same path (the payload either crosses the wire or it does not), at a
    // size that a shared 2-core test machine and a parallel suite afford.
    private const int HugeInfoBytes = 20 * 1024 * 1024;

    [Test]
    public async Task An_Info_over_MaxLbsPayloadBytes_never_reaches_the_worker_and_the_dead_letter_holds_a_truncated_copy()
    {
        // A private server: its output byte counter sees only this test's traffic.
        await using var server = await RedisServer.StartAsync();
        await using var redis = await server.ConnectAsync();
        var options = TestOptions.For();
        var keys = StreamKeys.For(options);
        var db = redis.GetDatabase();
        await using var consumer = await TestConsumer.StartAsync(redis, options);

        var outputBefore = await NetOutputBytesAsync(redis, server);
        var payload = JsonSerializer.Serialize(new { DataStreamName = "huge", Info = new { blob = new string('x', HugeInfoBytes) } });
        var hugeId = (string)(await db.StreamAddAsync(keys.Lbs, "lbs-input", payload))!;
        await new StreamPublisher(redis, options).AddStreamAsync("after-huge");

        await Eventually.AssertAsync(() => consumer.Owned.Count == 1, TimeSpan.FromSeconds(20), "the entry after the huge one is delivered");
        await Eventually.AssertAsync(async () => await db.StreamLengthAsync(keys.Dead) == 1, TimeSpan.FromSeconds(20), "the huge entry is dead-lettered");
        // Measured before this test reads the dead letter: what Redis sent to the consumer (and to this test's XLENs).
        var sent = await NetOutputBytesAsync(redis, server) - outputBefore;

        var letter = (await db.StreamRangeAsync(keys.Dead)).Single();
        var copy = (byte[])letter["original.lbs-input"]!;
        Assert.Multiple(() =>
        {
            Assert.That(consumer.Owned.Single().DataStreamName, Is.EqualTo("after-huge"));
            Assert.That(consumer.Of(StreamNotificationType.StreamAdded).Select(n => n.Payload.DataStreamName), Is.EqualTo(new[] { "after-huge" }), "the huge entry was never announced");
            Assert.That(sent, Is.LessThan(options.MaxLbsPayloadBytes * 4), $"Redis sent {sent} bytes: the {HugeInfoBytes}-byte payload never crossed the wire");
            Assert.That((string?)letter["lbs-id"], Is.EqualTo(hugeId));
            Assert.That((string?)letter["reason"], Does.Contain("MaxLbsPayloadBytes"));
            Assert.That(copy, Has.Length.EqualTo(options.MaxLbsPayloadBytes), "the dead letter keeps the first MaxLbsPayloadBytes bytes");
            Assert.That(copy, Is.EqualTo(System.Text.Encoding.UTF8.GetBytes(payload)[..options.MaxLbsPayloadBytes]), "a prefix of the original");
            Assert.That((string?)letter["truncated"], Does.Contain((payload.Length + "lbs-input".Length).ToString(CultureInfo.InvariantCulture)),
                "the dead letter says it is truncated, and from what size (field name and value)");
        });
    }

    [Test]
    public async Task One_entry_with_9000_fields_does_not_strand_the_five_good_entries_read_in_its_batch()
    {
        var options = TestOptions.For();
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        await db.StreamCreateConsumerGroupAsync(keys.Lbs, keys.Group, "0", createStream: true);
        var badId = (string)(await db.StreamAddAsync(keys.Lbs,
            [new NameValueEntry("lbs-input", """{"DataStreamName":"many-fields"}"""), .. Enumerable.Range(0, 8_999).Select(i => new NameValueEntry("f" + i, i))]))!;
        var good = Enumerable.Range(0, 5).Select(i => "good-" + i).ToArray();
        foreach (var name in good)
        {
            await db.StreamAddAsync(keys.Lbs, "lbs-input", $$"""{"DataStreamName":"{{name}}"}""");
        }

        // Started after the entries exist: its first read takes all six in one batch.
        await using var consumer = await TestConsumer.StartAsync(Redis, options);

        await Eventually.AssertAsync(() => consumer.Owned.Count == good.Length, TimeSpan.FromSeconds(15), "all five good entries of the batch are handled");
        Assert.That(consumer.Owned.Select(l => l.DataStreamName), Is.EquivalentTo(good));
        await Eventually.AssertAsync(async () => await db.StreamLengthAsync(keys.Dead) == 1, TimeSpan.FromSeconds(15), "the bad entry is dead-lettered");
        var letter = (await db.StreamRangeAsync(keys.Dead)).Single();
        Assert.Multiple(async () =>
        {
            Assert.That((string?)letter["lbs-id"], Is.EqualTo(badId));
            Assert.That((string?)letter["reason"], Does.Contain("9000 fields").And.Contain("MaxLbsEntryFields"));
            Assert.That(letter.Values.Count(v => ((string)v.Name!).StartsWith("original.", StringComparison.Ordinal)), Is.EqualTo(options.MaxLbsEntryFields),
                "the dead letter copies the first MaxLbsEntryFields fields");
            Assert.That(await db.HashExistsAsync(keys.Owners, badId), Is.False, "no ownership record is left for the bad entry");
            Assert.That(await db.StreamLengthAsync(keys.Lbs), Is.EqualTo(good.Length), "the bad entry left the LBS");
        });
    }

    [Test]
    public async Task Malformed_entries_leave_nothing_in_names()
    {
        var options = TestOptions.For();
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        await using var consumer = await TestConsumer.StartAsync(Redis, options);

        // Each has a name the script can read, and is refused by a later check.
        var malformed = new[]
        {
            new NameValueEntry("lbs-input", """{"DataStreamName":"info-array","Info":[1,2]}"""),
            new NameValueEntry("lbs-input", """{"DataStreamName":"  "}"""),
            new NameValueEntry("lbs-input", """{"DataStreamName":"deep","Info":""" + string.Concat(Enumerable.Repeat("{\"a\":", 40)) + "1" + new string('}', 40) + "}"),
            new NameValueEntry("lbs-input", """{"DataStreamName":"bad-info-name","Info":{"\udc00":1}}"""),
            new NameValueEntry("lbs-input", """{"DataStreamName":"long-""" + new string('n', 2 * options.MaxDataStreamNameLength) + "\"}"),
        };
        foreach (var entry in malformed)
        {
            await db.StreamAddAsync(keys.Lbs, [entry]);
        }

        await new StreamPublisher(Redis, options).AddStreamAsync("valid");

        await Eventually.AssertAsync(async () => await db.StreamLengthAsync(keys.Dead) == malformed.Length, TimeSpan.FromSeconds(15), "every malformed entry is dead-lettered");
        await Eventually.AssertAsync(() => consumer.Owned.Count == 1, TimeSpan.FromSeconds(15), "the valid one is delivered");
        var names = (await db.HashGetAllAsync(keys.Names)).Select(e => (string)e.Name!).ToArray();
        Assert.That(names, Is.EqualTo(new[] { "valid" }), "only the live announcement has a name entry");
    }

    private static async Task<long> NetOutputBytesAsync(ConnectionMultiplexer redis, RedisServer server)
    {
        var stats = await redis.GetServer(server.EndPoint).InfoAsync("stats");
        return long.Parse(stats.SelectMany(g => g).Single(p => p.Key == "total_net_output_bytes").Value, CultureInfo.InvariantCulture);
    }
}
