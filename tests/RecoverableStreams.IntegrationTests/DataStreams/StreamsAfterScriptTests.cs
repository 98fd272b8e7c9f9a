using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Notifications;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.DataStreams;

/// <summary>The contract of <c>streams_after.lua</c>, the safety poll's one round trip for many streams.</summary>
[Parallelizable(ParallelScope.Self)]
public sealed class StreamsAfterScriptTests : SharedRedisTest
{
    [Test]
    public async Task Returns_the_indexes_of_the_streams_with_an_entry_after_the_given_position_and_only_those()
    {
        var db = Redis.GetDatabase();
        var prefix = "sa-" + Guid.NewGuid().ToString("N")[..8] + ":";
        await db.StreamAddAsync(prefix + "a", "n", 1, messageId: "9-5");
        await db.StreamAddAsync(prefix + "b", "n", 1, messageId: "10-0");
        await db.StreamAddAsync(prefix + "c", "n", 1, messageId: "5-10");
        await db.StringSetAsync(prefix + "not-a-stream", "x");

        (string Key, string Position, bool Moved)[] cases =
        [
            (prefix + "a", "9-5", false),
            (prefix + "a", "9-4", true),
            (prefix + "a", "8-99", true),
            (prefix + "b", "9-99", true),
            (prefix + "b", "10-0", false),
            (prefix + "b", "100-0", false),
            (prefix + "c", "5-9", true),
            (prefix + "c", "5-10", false),
            (prefix + "missing", "0-0", false),
            (prefix + "not-a-stream", "0-0", false),
            (prefix + "a", "0-0", true),
        ];

        var reply = await db.ScriptEvaluateAsync(ScriptSource.Get("streams_after"),
            cases.Select(c => (RedisKey)c.Key).ToArray(), cases.Select(c => (RedisValue)c.Position).ToArray());
        var moved = ((long[])reply!).Select(i => (int)i - 1).ToHashSet();

        for (var i = 0; i < cases.Length; i++)
        {
            Assert.That(moved.Contains(i), Is.EqualTo(cases[i].Moved), $"{cases[i].Key} after {cases[i].Position}");
        }
    }

    [Test]
    public async Task Agrees_with_the_client_side_comparison_on_random_ids()
    {
        var db = Redis.GetDatabase();
        var key = "sa-" + Guid.NewGuid().ToString("N")[..8];
        var random = new Random(7);
        var newest = $"{random.NextInt64(1, 1L << 50)}-{random.Next(0, 1000)}";
        await db.StreamAddAsync(key, "n", 1, messageId: newest);
        var positions = Enumerable.Range(0, 300).Select(_ => random.Next(3) switch
        {
            0 => $"{random.NextInt64(0, 1L << 50)}-{random.Next(0, 1000)}",
            1 => newest.Split('-')[0] + "-" + random.Next(0, 1000),
            _ => newest,
        }).ToArray();

        var reply = await db.ScriptEvaluateAsync(ScriptSource.Get("streams_after"),
            positions.Select(_ => (RedisKey)key).ToArray(), positions.Select(p => (RedisValue)p).ToArray());
        var moved = ((long[])reply!).Select(i => (int)i - 1).ToHashSet();

        for (var i = 0; i < positions.Length; i++)
        {
            Assert.That(moved.Contains(i), Is.EqualTo(StreamIds.IsAfter(newest, positions[i])), $"{newest} after {positions[i]}");
        }
    }
}
