using System.Text;
using System.Text.Json;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Security;

/// <summary>
/// LBS entries written by a hostile or broken producer: odd but legal data stream names are delivered exactly; anything
/// over a documented limit or malformed is dead-lettered with a reason; nothing blocks the reader, and no key outside
/// the service's own is ever written.
/// </summary>
public sealed class HostileInputTests : SharedRedisTest
{
    private static readonly string[] LegalNames =
    [
        "{braces}inside", "}{reversed", "a:b:c", "pipe|separated|name", "line\nbreak\r\n", "ünïcødé-流-🚀", "nul\0byte",
        "glob*?[chars]", "  leading spaces", "\"quoted\"",
    ];


    [Test]
    public async Task Hostile_entries_are_dead_lettered_with_a_reason_and_neither_block_the_reader_nor_touch_other_keys()
    {
        // A private server, so KEYS sees every key there is.
        await using var server = await RedisServer.StartAsync();
        await using var redis = await server.ConnectAsync();
        var hostile = TestOptions.For();
        var neighbour = TestOptions.For();
        var hostileKeys = StreamKeys.For(hostile);
        var neighbourKeys = StreamKeys.For(neighbour);
        var db = redis.GetDatabase();

        await using var neighbourConsumer = await TestConsumer.StartAsync(redis, neighbour);
        await new StreamPublisher(redis, neighbour).AddStreamAsync("neighbour-stream");
        await Eventually.AssertAsync(() => neighbourConsumer.Owned.Count == 1, TimeSpan.FromSeconds(15), "the neighbour service owns its stream");
        var neighbourBefore = await SnapshotAsync(db, neighbourKeys);

        await using var consumer = await TestConsumer.StartAsync(redis, hostile);

        // Names that collide with the neighbour's keys are only names: nothing is written under them.
        var legal = LegalNames.Concat([neighbourKeys.Lbs, neighbourKeys.Dead, neighbourKeys.Fence, neighbourKeys.Owners]).ToArray();
        var publisher = new StreamPublisher(redis, hostile);
        foreach (var name in legal)
        {
            await publisher.AddStreamAsync(name, new Dictionary<string, object?> { ["name"] = name });
        }

        var expectedReasons = new Dictionary<string, string>();
        async Task AddRawAsync(string reason, params NameValueEntry[] fields) =>
            expectedReasons[(await db.StreamAddAsync(hostileKeys.Lbs, fields))!] = reason;

        await AddRawAsync("MaxDataStreamNameLength", Payload(new string('n', 10 * 1024)));
        await AddRawAsync("MaxInfoDepth", new NameValueEntry("lbs-input", $$"""{"DataStreamName":"deep","Info":{{Nested(40)}}}"""));
        await AddRawAsync("MaxLbsPayloadBytes", Payload("huge", new string('x', 70 * 1024)));
        await AddRawAsync("Info is a JSON Array, not an object", new NameValueEntry("lbs-input", """{"DataStreamName":"arr","Info":[1,2]}"""));
        await AddRawAsync("Info is a JSON String, not an object", new NameValueEntry("lbs-input", """{"DataStreamName":"str","Info":"text"}"""));
        await AddRawAsync("the payload is a JSON Array, not an object", new NameValueEntry("lbs-input", """[{"DataStreamName":"x"}]"""));
        await AddRawAsync("MaxLbsEntryFields", [.. Enumerable.Range(0, 40).Select(i => new NameValueEntry("f" + i, i)), Payload("many-fields")]);
        await AddRawAsync("not valid JSON", new NameValueEntry("lbs-input", "{\"DataStreamName\":"));
        await AddRawAsync("not valid JSON", new NameValueEntry("lbs-input", new byte[] { 0x7b, 0xff, 0xfe, 0x7d }));
        await AddRawAsync("no 'lbs-input' field", new NameValueEntry("other", "value"));
        await AddRawAsync("DataStreamName is a JSON Number, not a string", new NameValueEntry("lbs-input", """{"DataStreamName":42}"""));
        await AddRawAsync("DataStreamName is empty", new NameValueEntry("lbs-input", """{"DataStreamName":"  "}"""));
        await AddRawAsync("no DataStreamName", new NameValueEntry("lbs-input", """{"Info":{}}"""));
        // A lone surrogate escape: legal JSON that Python's json.dumps writes, but no .NET string.
        await AddRawAsync("DataStreamName is not valid UTF-16 text", new NameValueEntry("lbs-input", """{"DataStreamName":"\ud800"}"""));
        await AddRawAsync("Info has a property name that is not valid UTF-16 text", new NameValueEntry("lbs-input", """{"DataStreamName":"x","Info":{"\udc00":1}}"""));
        await publisher.AddStreamAsync("valid-after-hostile");

        var expectedOwned = legal.Append("valid-after-hostile").ToArray();
        await Eventually.AssertAsync(() => consumer.Owned.Count == expectedOwned.Length, TimeSpan.FromSeconds(20),
            "every legal stream, including the one announced after the hostile entries, is delivered");
        Assert.That(consumer.Owned.Select(l => l.DataStreamName), Is.EquivalentTo(expectedOwned), "names arrive byte for byte");
        Assert.That(consumer.Owned.Where(l => l.DataStreamName != "valid-after-hostile").Select(l => l.AdditionalInfo!["name"].GetString()),
            Is.EquivalentTo(legal), "each Info arrives with its own stream");

        await Eventually.AssertAsync(async () => await db.StreamLengthAsync(hostileKeys.Dead) == expectedReasons.Count, TimeSpan.FromSeconds(20),
            "every hostile entry is dead-lettered");
        foreach (var letter in await db.StreamRangeAsync(hostileKeys.Dead))
        {
            var lbsId = (string)letter["lbs-id"]!;
            Assert.That(expectedReasons.ContainsKey(lbsId), Is.True, $"dead letter for unknown entry {lbsId}");
            Assert.That((string?)letter["reason"], Does.Contain(expectedReasons[lbsId]), $"reason of {lbsId}");
        }

        Assert.That(await db.StreamLengthAsync(hostileKeys.Lbs), Is.EqualTo(expectedOwned.Length), "dead-lettered entries are removed from the LBS");
        foreach (var lease in consumer.Owned)
        {
            await consumer.Client.CompleteStreamAsync(lease.Info);
        }

        Assert.That(await db.StreamLengthAsync(hostileKeys.Lbs), Is.Zero);
        Assert.That(neighbourConsumer.Owned.Select(l => l.DataStreamName), Is.EqualTo(new[] { "neighbour-stream" }));
        Assert.That(await SnapshotAsync(db, neighbourKeys), Is.EqualTo(neighbourBefore), "the neighbour's LBS, fence and dead letters are untouched");

        var keys = redis.GetServer(server.EndPoint).Keys(pattern: "*").Select(k => (string)k!).ToArray();
        var foreign = keys.Where(k => !IsOwnKey(k, hostileKeys) && !IsOwnKey(k, neighbourKeys)).ToArray();
        Assert.That(foreign, Is.Empty, "no key outside the two services' LBS and control keys exists");
    }

    [Test]
    public async Task A_raised_MaxDataStreamNameLength_accepts_a_10_kB_name_end_to_end()
    {
        var options = TestOptions.For();
        options.MaxDataStreamNameLength = 16 * 1024;
        var name = "long:" + new string('n', 10 * 1024);
        await using var consumer = await TestConsumer.StartAsync(Redis, options);

        await new StreamPublisher(Redis, options).AddStreamAsync(name);

        await Eventually.AssertAsync(() => consumer.Owned.Count == 1, TimeSpan.FromSeconds(15), "the long name is delivered");
        Assert.That(consumer.Owned[0].DataStreamName, Is.EqualTo(name));
        Assert.That(await Redis.GetDatabase().KeyExistsAsync(StreamKeys.For(options).Dead), Is.False, "nothing was dead-lettered");
    }

    [Test]
    public async Task Publisher_refuses_input_over_the_limits_with_ArgumentException_and_writes_nothing()
    {
        var options = TestOptions.For();
        var publisher = new StreamPublisher(Redis, options);

        Assert.That(() => publisher.AddStreamAsync(new string('n', 10 * 1024)), Throws.ArgumentException.With.Message.Contains("MaxDataStreamNameLength"));
        Assert.That(() => publisher.AddStreamAsync("deep", new Dictionary<string, object?> { ["d"] = NestedDictionary(40) }),
            Throws.ArgumentException.With.Message.Contains("MaxInfoDepth"));
        Assert.That(() => publisher.AddStreamAsync("huge", new Dictionary<string, object?> { ["x"] = new string('x', 70 * 1024) }),
            Throws.ArgumentException.With.Message.Contains("MaxLbsPayloadBytes"));
        Assert.That(() => publisher.AddStreamAsync(" "), Throws.ArgumentException);

        Assert.That(await Redis.GetDatabase().KeyExistsAsync(StreamKeys.For(options).Lbs), Is.False, "no LBS entry was written");
    }

    private static NameValueEntry Payload(string name, string? infoValue = null) =>
        new("lbs-input", JsonSerializer.Serialize(new { DataStreamName = name, Info = infoValue is null ? null : new { v = infoValue } }));

    private static string Nested(int depth)
    {
        var text = new StringBuilder();
        for (var i = 0; i < depth; i++)
        {
            text.Append("{\"a\":");
        }

        text.Append('1');
        text.Append('}', depth);
        return text.ToString();
    }

    private static Dictionary<string, object?> NestedDictionary(int depth)
    {
        var root = new Dictionary<string, object?>();
        var current = root;
        for (var i = 0; i < depth; i++)
        {
            var next = new Dictionary<string, object?>();
            current["a"] = next;
            current = next;
        }

        return root;
    }

    private static bool IsOwnKey(string key, StreamKeys keys) =>
        key == keys.Lbs || key.StartsWith(keys.Prefix + ":", StringComparison.Ordinal);

    private static async Task<string> SnapshotAsync(IDatabase db, StreamKeys keys)
    {
        var entries = await db.StreamRangeAsync(keys.Lbs);
        return $"lbs={string.Join(",", entries.Select(e => e.Id))} fence={await db.StringGetAsync(keys.Fence)} dead={await db.KeyExistsAsync(keys.Dead)}";
    }
}
