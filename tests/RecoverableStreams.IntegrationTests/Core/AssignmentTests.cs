using System.Text.Json;
using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Core;

public sealed class AssignmentTests : SharedRedisTest
{
    [Test]
    public async Task Two_consumers_two_streams_each_consumer_gets_one_with_its_info()
    {
        var service = TestOptions.NewServiceName();
        await using var first = await TestConsumer.StartAsync(Redis, TestOptions.For(service, maxConcurrentStreams: 1));
        await using var second = await TestConsumer.StartAsync(Redis, TestOptions.For(service, maxConcurrentStreams: 1));
        var publisher = new StreamPublisher(Redis, TestOptions.For(service));

        await publisher.AddStreamAsync("session-a", new Dictionary<string, object?> { ["device"] = "a", ["n"] = 1 });
        await publisher.AddStreamAsync("session-b", new Dictionary<string, object?> { ["device"] = "b", ["n"] = 2 });

        await Eventually.AssertAsync(() => first.Of(StreamNotificationType.StreamAdded).Count == 1 && second.Of(StreamNotificationType.StreamAdded).Count == 1,
            TimeSpan.FromSeconds(10), "each consumer gets one StreamAdded");
        var a = first.Of(StreamNotificationType.StreamAdded)[0];
        var b = second.Of(StreamNotificationType.StreamAdded)[0];
        Assert.That(new[] { a.Payload.DataStreamName, b.Payload.DataStreamName }, Is.EquivalentTo(new[] { "session-a", "session-b" }));
        foreach (var added in new[] { a, b })
        {
            var device = added.Payload.DataStreamName[^1..];
            Assert.That(added.AdditionalInfo!["device"].GetString(), Is.EqualTo(device));
            Assert.That(added.Lease, Is.Not.Null);
            Assert.That(added.Lease!.IsOwned, Is.True);
        }
    }

    [Test]
    public async Task Go_format_entries_written_by_plain_xadd_are_assigned_like_published_ones_whatever_the_property_case()
    {
        var service = TestOptions.NewServiceName();
        await using var first = await TestConsumer.StartAsync(Redis, TestOptions.For(service, maxConcurrentStreams: 1));
        await using var second = await TestConsumer.StartAsync(Redis, TestOptions.For(service, maxConcurrentStreams: 1));
        var lbs = StreamKeys.For(TestOptions.For(service)).Lbs;
        var db = Redis.GetDatabase();

        // What a Go or Python producer writes: the field and JSON shape of redis-stream-client-go, any letter case.
        var idA = (string)(await db.StreamAddAsync(lbs, "lbs-input", """{"datastreamname":"go-a","INFO":{"device":"a","n":42,"ratio":0.5}}"""))!;
        var idB = (string)(await db.StreamAddAsync(lbs, "lbs-input", """{"DataStreamName":"go-b","Info":{"device":"b","n":7}}"""))!;

        await Eventually.AssertAsync(() => first.Of(StreamNotificationType.StreamAdded).Count == 1 && second.Of(StreamNotificationType.StreamAdded).Count == 1,
            TimeSpan.FromSeconds(10), "each consumer gets one StreamAdded for the raw entries");
        var added = first.Of(StreamNotificationType.StreamAdded).Concat(second.Of(StreamNotificationType.StreamAdded)).ToDictionary(n => n.Payload.DataStreamName);
        Assert.That(added.Keys, Is.EquivalentTo(new[] { "go-a", "go-b" }));
        Assert.That(added["go-a"].Payload.IdInLbs, Is.EqualTo(idA));
        Assert.That(added["go-b"].Payload.IdInLbs, Is.EqualTo(idB));
        Assert.That(added["go-a"].AdditionalInfo!["n"].GetInt32(), Is.EqualTo(42));
        Assert.That(added["go-a"].AdditionalInfo!["ratio"].GetDouble(), Is.EqualTo(0.5));
        Assert.That(added["go-a"].AdditionalInfo!["device"].GetString(), Is.EqualTo("a"));
        Assert.That(added["go-b"].AdditionalInfo!["n"].GetInt32(), Is.EqualTo(7));
        foreach (var notification in added.Values)
        {
            Assert.That(notification.Lease!.Origin, Is.EqualTo(LeaseOrigin.Assigned));
            Assert.That(notification.Lease.IsOwned, Is.True);
            Assert.That(notification.Lease.AdditionalInfo, Is.EqualTo(notification.AdditionalInfo));
        }

        // And the owner completes it like any other entry.
        var ownerOfA = first.Owned.Any(l => l.DataStreamName == "go-a") ? first : second;
        await ownerOfA.Client.CompleteStreamAsync("go-a");
        Assert.That((await db.StreamRangeAsync(lbs, idA, idA)).Length, Is.Zero);
    }

    [Test]
    public async Task Published_entries_use_the_go_wire_format()
    {
        var options = TestOptions.For();
        var publisher = new StreamPublisher(Redis, options);
        var id = await publisher.AddStreamAsync("session-go", new Dictionary<string, object?> { ["n"] = 3 });

        var entry = (await Redis.GetDatabase().StreamRangeAsync(StreamKeys.For(options).Lbs, id, id)).Single();
        Assert.That(entry.Values.Select(v => (string)v.Name!), Is.EqualTo(new[] { "lbs-input" }));
        using var json = JsonDocument.Parse((string)entry.Values[0].Value!);
        Assert.That(json.RootElement.GetProperty("DataStreamName").GetString(), Is.EqualTo("session-go"));
        Assert.That(json.RootElement.GetProperty("Info").GetProperty("n").GetInt32(), Is.EqualTo(3));
    }

    [Test]
    public async Task Nothing_is_delivered_before_an_entry_exists_and_an_entry_is_delivered_promptly_after_it_is_written()
    {
        // A private server: its command statistics show when the reader has looked at the empty LBS.
        await using var server = await RedisServer.StartAsync("--loglevel", "warning");
        await using var redis = await server.ConnectAsync();
        var options = TestOptions.For();
        await using var consumer = await TestConsumer.StartAsync(redis, options);

        // The reader has read the empty LBS several times (XREADGROUP runs inside its read-and-acquire script).
        await Eventually.AssertAsync(async () => await CommandCallsAsync(redis, "xreadgroup") >= 3, TimeSpan.FromSeconds(15), "the reader polls the empty LBS");
        Assert.That(consumer.Notifications, Is.Empty);
        Assert.That(consumer.Owned, Is.Empty);

        await new StreamPublisher(redis, options).AddStreamAsync("late-session");

        await Eventually.AssertAsync(() => consumer.Of(StreamNotificationType.StreamAdded).Count == 1, TimeSpan.FromSeconds(10), "the new entry is delivered");
        Assert.That(consumer.Notifications.Single().Payload.DataStreamName, Is.EqualTo("late-session"));
    }

    private static async Task<long> CommandCallsAsync(ConnectionMultiplexer redis, string command)
    {
        var info = (string)(await redis.GetServers()[0].ExecuteAsync("INFO", "commandstats"))!;
        var line = info.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith($"cmdstat_{command}:", StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line.Split("calls=")[1].Split(',')[0]);
    }
}
