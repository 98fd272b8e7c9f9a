using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

public sealed class DeadLetterTests : SharedRedisTest
{
    [Test]
    public async Task Malformed_entries_go_to_the_dead_letter_stream_with_a_reason_and_later_valid_entries_are_delivered()
    {
        var options = TestOptions.For();
        options.MaxLbsPayloadBytes = 1024;
        options.MaxLbsEntryFields = 4;
        var keys = StreamKeys.For(options);
        var db = Redis.GetDatabase();
        await using var consumer = await TestConsumer.StartAsync(Redis, options);

        var malformed = new (string What, NameValueEntry[] Fields, string Reason)[]
        {
            ("wrong field name", [new("lbs-inputs", """{"DataStreamName":"s1"}""")], "no 'lbs-input' field"),
            ("bad JSON", [new("lbs-input", """{"DataStreamName":"s2",""")], "not valid JSON"),
            ("empty DataStreamName", [new("lbs-input", """{"DataStreamName":"","Info":{}}""")], "DataStreamName is empty"),
            ("oversized payload", [new("lbs-input", "{\"DataStreamName\":\"s4\",\"Info\":{\"blob\":\"" + new string('x', 2000) + "\"}}")], "MaxLbsPayloadBytes"),
            ("Info not an object", [new("lbs-input", """{"DataStreamName":"s5","Info":[1,2,3]}""")], "Info is a JSON Array"),
            ("too many fields", [new("lbs-input", """{"DataStreamName":"s6"}"""), new("a", 1), new("b", 2), new("c", 3), new("d", 4)], "MaxLbsEntryFields"),
        };
        var ids = new List<string>();
        foreach (var entry in malformed)
        {
            ids.Add((string)(await db.StreamAddAsync(keys.Lbs, entry.Fields))!);
        }

        var validId = (string)(await db.StreamAddAsync(keys.Lbs, "lbs-input", """{"DataStreamName":"valid-after","Info":{"k":"v"}}"""))!;

        await Eventually.AssertAsync(() => consumer.Of(StreamNotificationType.StreamAdded).Count == 1, TimeSpan.FromSeconds(10), "the valid entry after the malformed ones is delivered");
        var added = consumer.Of(StreamNotificationType.StreamAdded).Single();
        Assert.That(added.Payload, Is.EqualTo(new LbsInfo("valid-after", validId)));
        Assert.That(added.AdditionalInfo!["k"].GetString(), Is.EqualTo("v"));

        var dead = await db.StreamRangeAsync(keys.Dead);
        Assert.That(dead, Has.Length.EqualTo(malformed.Length));
        var byLbsId = dead.ToDictionary(d => (string)d["lbs-id"]!);
        for (var i = 0; i < malformed.Length; i++)
        {
            Assert.That(byLbsId.ContainsKey(ids[i]), Is.True, malformed[i].What);
            var letter = byLbsId[ids[i]];
            Assert.That((string?)letter["reason"], Does.Contain(malformed[i].Reason), malformed[i].What);
            Assert.That((string?)letter["consumer"], Is.EqualTo(options.ConsumerId), malformed[i].What);
            // The original fields are kept, so an operator can replay the entry; a payload over MaxLbsPayloadBytes only as
            // its first MaxLbsPayloadBytes bytes, marked truncated, so a hostile entry cannot grow the dead letters.
            var firstField = malformed[i].Fields[0];
            var original = (string)firstField.Value!;
            var oversized = original.Length > options.MaxLbsPayloadBytes;
            Assert.That((string?)letter["original." + firstField.Name], Is.EqualTo(oversized ? original[..options.MaxLbsPayloadBytes] : original), malformed[i].What);
            Assert.That(letter["truncated"].IsNull, Is.EqualTo(!oversized && malformed[i].Fields.Length <= options.MaxLbsEntryFields), malformed[i].What + ": truncated marker");
        }

        // Dead-lettered entries are acked and removed: only the valid entry is left, pending for its owner.
        Assert.That(await db.StreamLengthAsync(keys.Lbs), Is.EqualTo(1));
        var pending = await db.StreamPendingAsync(keys.Lbs, keys.Group);
        Assert.That(pending.PendingMessageCount, Is.EqualTo(1));
        Assert.That(pending.LowestPendingMessageId.ToString(), Is.EqualTo(validId));
        Assert.That(consumer.Notifications.Count(n => n.Type != StreamNotificationType.StreamAdded), Is.Zero);
    }
}
