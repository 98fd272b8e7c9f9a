using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Infrastructure;

/// <summary>
/// Takes a stream's ownership away behind its owner's back, so that its next renewal (or write) finds it gone: the
/// per-stream lease key is deleted or, with session leases (an ownership record in <c>{L}:owners</c> naming a session
/// in <c>{L}:sessions</c>), the owning session is removed, which loses every stream of that session.
/// </summary>
public static class TakeAway
{
    public static async Task OwnershipAsync(IDatabase db, string service, string idInLbs)
    {
        var prefix = "{" + service + "-input}:";
        if (await db.KeyDeleteAsync(prefix + "lease:" + idInLbs))
        {
            return;
        }

        var record = (string?)await db.HashGetAsync(prefix + "owners", idInLbs);
        Assert.That(record, Is.Not.Null, $"{idInLbs} has neither a lease key nor an ownership record");
        var session = record![..record.LastIndexOf('|')];
        Assert.That(await db.SortedSetRemoveAsync(prefix + "sessions", session), Is.True, $"session {session} removed");
    }
}
