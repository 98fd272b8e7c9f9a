using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Scripts;

/// <summary>
/// The entry limits inside the scripts: <c>read_acquire.lua</c> dead-letters an entry over MaxLbsEntryFields or
/// MaxLbsPayloadBytes itself and returns none of its fields; <c>dead_letter.lua</c> copies at most the limits, whatever
/// reached a worker another way; a malformed entry's name never stays in <c>{L}:names</c>.
/// </summary>
[Parallelizable(ParallelScope.Self)]
public sealed class EntryLimitScriptTests : ScriptTest
{
    private static readonly EntryLimits Limits = new(MaxPayloadBytes: 1024, MaxFields: 4);

    private StreamScripts Limited => new(Db, Keys, Limits);

    [Test]
    public async Task Read_acquire_dead_letters_entries_over_the_limits_and_returns_none_of_their_fields()
    {
        await OpenAsync("a|1");
        var good = (await AnnounceAsync("good"))[0];
        var manyFields = await AddAsync([Payload("many"), .. Enumerable.Range(0, 9_000).Select(i => new NameValueEntry("f" + i, i))]);
        var bigPayload = await AddAsync(new NameValueEntry("lbs-input", """{"DataStreamName":"big","Info":{"x":""" + "\"" + new string('x', 5_000) + "\"}}"));
        var bigOthers = await AddAsync(Payload("others"), new NameValueEntry("blob", new string('y', 2_000)));

        var reply = await Limited.ReadAndAcquireAsync("c", "a|1", 100, 1000);

        var letters = (await Db.StreamRangeAsync(Keys.Dead)).ToDictionary(l => (string)l["lbs-id"]!);
        Assert.Multiple(async () =>
        {
            Assert.That(reply.Entries.Select(e => e.Id), Is.EqualTo(new[] { good }), "only the entry within the limits is granted");
            Assert.That(reply.Refused.Select(r => r.Id), Is.EqualTo(new[] { manyFields, bigPayload, bigOthers }));
            Assert.That(reply.Refused[0].Reason, Is.EqualTo("the entry has 9001 fields, more than MaxLbsEntryFields (4)"));
            Assert.That(reply.Refused[1].Reason, Does.StartWith("the payload has 5").And.EndWith("bytes, more than MaxLbsPayloadBytes (1024)"));
            Assert.That(reply.Refused[2].Reason, Is.EqualTo("the fields besides 'lbs-input' have 2004 bytes, more than MaxLbsPayloadBytes (1024)"));
            Assert.That(await Db.HashKeysAsync(Keys.Owners), Is.EqualTo(new RedisValue[] { good }), "no record for a refused entry");
            Assert.That(await Db.StreamLengthAsync(Keys.Lbs), Is.EqualTo(1), "refused entries leave the LBS");
            Assert.That((await Db.StreamPendingAsync(Keys.Lbs, Keys.Group)).PendingMessageCount, Is.EqualTo(1), "and the pending list");
            Assert.That(letters.Keys, Is.EquivalentTo(new[] { manyFields, bigPayload, bigOthers }));
            Assert.That(Originals(letters[manyFields]), Has.Length.EqualTo(Limits.MaxFields), "at most MaxFields fields are copied");
            Assert.That(((byte[])letters[bigPayload]["original.lbs-input"]!).Length, Is.EqualTo(Limits.MaxPayloadBytes), "the payload is cut to MaxPayloadBytes");
            Assert.That(Originals(letters[bigOthers]).Sum(v => ((string)v.Name!).Length - "original.".Length + ((byte[])v.Value!).Length) - ((byte[])letters[bigOthers]["original.lbs-input"]!).Length - "lbs-input".Length,
                Is.LessThanOrEqualTo(Limits.MaxPayloadBytes), "the other fields share MaxPayloadBytes");
            Assert.That(letters.Values.Select(l => (string?)l["truncated"]), Is.All.Not.Null, "each copy says it is truncated");
        });
    }

    [Test]
    public async Task Dead_letter_copies_at_most_the_limits_of_an_entry_that_reached_a_worker_another_way()
    {
        // Granted under larger limits (another consumer's options, or a claim of an entry a foreign client read).
        await OpenAsync("a|1");
        var id = await AddAsync([Payload("many"), .. Enumerable.Range(0, 9_000).Select(i => new NameValueEntry("f" + i, i))]);
        var token = (await new StreamScripts(Db, Keys, new EntryLimits(1024 * 1024, 10_000)).ReadAndAcquireAsync("c", "a|1", 10, 1000)).Entries.Single().FencingToken;

        var (outcome, deadId) = await Limited.DeadLetterAsync(id, "a|1", "a|1|" + token, null, "the entry has 9001 fields", "c", 100);

        var letter = (await Db.StreamRangeAsync(Keys.Dead)).Single();
        Assert.Multiple(async () =>
        {
            Assert.That(outcome, Is.EqualTo(WriteOutcome.Done), "no unpack limit is hit");
            Assert.That((string?)letter.Id, Is.EqualTo(deadId));
            Assert.That(Originals(letter), Has.Length.EqualTo(Limits.MaxFields));
            Assert.That((string?)letter["truncated"], Is.EqualTo($"copied 4 of 9001 fields; the original had {ManyFieldsEntryBytes()} bytes"));
            Assert.That(await Db.StreamLengthAsync(Keys.Lbs), Is.Zero);
            Assert.That(await Db.HashExistsAsync(Keys.Names, "many"), Is.False, "the name the read registered is gone, though the caller did not know it");
        });
    }

    [Test]
    public async Task Dead_letter_of_a_malformed_entry_removes_the_name_registered_for_it_and_only_that()
    {
        await OpenAsync("a|1");
        await AddAsync(new NameValueEntry("lbs-input", """{"DataStreamName":"  ","Info":[1]}"""));
        var entry = (await GrantAsync("a|1")).Entries.Single();
        Assert.That(await Db.HashGetAsync(Keys.Names, "  "), Is.EqualTo((RedisValue)entry.Id), "read_acquire registers the name it can read");
        await Db.HashSetAsync(Keys.Names, "other", entry.Id);

        var (outcome, _) = await Scripts.DeadLetterAsync(entry.Id, "a|1", "a|1|" + entry.FencingToken, null, "DataStreamName is empty", "c", 100);

        Assert.That(outcome, Is.EqualTo(WriteOutcome.Done));
        Assert.That((await Db.HashGetAllAsync(Keys.Names)).Select(e => (string)e.Name!), Is.EqualTo(new[] { "other" }),
            "the name read from the payload is removed; nothing else is guessed");
    }

    [Test]
    public async Task Find_orphans_lists_an_entry_over_the_limits_without_its_fields()
    {
        var small = await AddAsync(Payload("small"));
        var many = await AddAsync([Payload("many"), .. Enumerable.Range(0, 9_000).Select(i => new NameValueEntry("f" + i, i))]);
        await Db.SortedSetAddAsync(Keys.Free, [new SortedSetEntry(small, 1), new SortedSetEntry(many, 2)]);

        var reply = await Limited.FindOrphansAsync(null, 0, 10);

        Assert.That(reply.Entries.Select(e => (e.Id, e.Fields.Count)), Is.EqualTo(new[] { (small, 1), (many, 0) }),
            "the entry over the limits is listed, so that a claimer dead-letters it, but none of its 9,001 fields travel");
    }

    private static NameValueEntry Payload(string name) => new("lbs-input", $$"""{"DataStreamName":"{{name}}"}""");

    private static NameValueEntry[] Originals(StreamEntry letter) =>
        letter.Values.Where(v => ((string)v.Name!).StartsWith("original.", StringComparison.Ordinal)).ToArray();

    private async Task<string> AddAsync(params NameValueEntry[] fields)
    {
        await AnnounceAsync();
        return (string)(await Db.StreamAddAsync(Keys.Lbs, fields))!;
    }

    // The original entry's size as the script counts it: every field name and value, in bytes.
    private static long ManyFieldsEntryBytes()
    {
        long total = "lbs-input".Length + """{"DataStreamName":"many"}""".Length;
        for (var i = 0; i < 9_000; i++)
        {
            total += ("f" + i).Length + i.ToString(System.Globalization.CultureInfo.InvariantCulture).Length;
        }

        return total;
    }
}
