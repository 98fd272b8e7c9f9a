using RecoverableStreams.IntegrationTests.Infrastructure;
using RecoverableStreams.Keys;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Scripts;

/// <summary>
/// A base for the per-script tests: each test gets its own service's keys and calls the scripts directly through
/// <see cref="StreamScripts"/>, as the client does, against the shared real Redis.
/// </summary>
public abstract class ScriptTest : SharedRedisTest
{
    protected static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    private StreamKeys? _keys;

    internal StreamKeys Keys => _keys ??= StreamKeys.For(TestOptions.For());

    internal StreamScripts Scripts => new(Db, Keys);

    protected IDatabase Db => Redis.GetDatabase();

    [SetUp]
    public void NewKeys() => _keys = null;

    /// <summary>Opens a live session with the given id.</summary>
    protected async Task<string> OpenAsync(string id, TimeSpan? lease = null)
    {
        var reply = await Scripts.OpenSessionAsync(id, lease ?? Lease);
        Assert.That(reply.Accepted, Is.True, "the session opens");
        return id;
    }

    /// <summary>Adds LBS entries announcing the given names (the group exists, nothing delivered).</summary>
    protected async Task<string[]> AnnounceAsync(params string[] names)
    {
        await EnsureGroupAsync();
        var ids = new List<string>();
        foreach (var name in names)
        {
            ids.Add((string)(await Db.StreamAddAsync(Keys.Lbs, "lbs-input", $$"""{"DataStreamName":"{{name}}"}"""))!);
        }

        return [.. ids];
    }

    /// <summary>Adds <paramref name="count"/> entries in one pipeline.</summary>
    protected async Task<string[]> AnnounceManyAsync(int count, string prefix = "s")
    {
        await EnsureGroupAsync();
        var batch = Db.CreateBatch();
        var adds = Enumerable.Range(0, count).Select(i => batch.StreamAddAsync(Keys.Lbs, "lbs-input", $$"""{"DataStreamName":"{{prefix}}-{{i}}"}""")).ToArray();
        batch.Execute();
        return (await Task.WhenAll(adds)).Select(id => (string)id!).ToArray();
    }

    /// <summary>
    /// Reads and grants up to <paramref name="count"/> entries to <paramref name="session"/>, read by the group consumer
    /// named as the client names it: the session id is <c>&lt;consumer id&gt;|&lt;random&gt;</c>.
    /// </summary>
    internal async Task<ReadAcquireReply> GrantAsync(string session, int count = 1000) =>
        await Scripts.ReadAndAcquireAsync(ConsumerOf(session), session, count, 1000);

    /// <summary>The consumer id of a session id (<c>&lt;consumer id&gt;|&lt;random&gt;</c>).</summary>
    protected static string ConsumerOf(string session) => session[..session.LastIndexOf('|')];

    protected Task KillAsync(string session) => Db.SortedSetAddAsync(Keys.Sessions, session, 0, SortedSetWhen.Exists);

    protected async Task<long> CountOfAsync(string session)
    {
        var value = await Db.HashGetAsync(Keys.Counts, session);
        return value.IsNull ? 0 : (long)value;
    }

    protected Task<string[]> OwnedByAsync(string session) => Ownership.OwnedByAsync(Db, Keys, session);

    protected Task<long> ServerNowMsAsync() => Ownership.ServerNowMsAsync(Db);

    private async Task EnsureGroupAsync()
    {
        try
        {
            await Db.StreamCreateConsumerGroupAsync(Keys.Lbs, Keys.Group, "0", createStream: true);
        }
        catch (RedisServerException ex) when (ex.Message.Contains("BUSYGROUP", StringComparison.Ordinal))
        {
        }
    }
}
