using StackExchange.Redis;

namespace RecoverableStreams.Hosting.Processing;

/// <summary>
/// Tells an outage of Redis from a failure of the stream: the one classifier the hosting layer uses. An outage
/// never spends one of the stream's delivery attempts (it would dead-letter healthy streams during a failover);
/// <see cref="RecoverableStreamOptions.MaxOutageRetryDuration"/> bounds how long one worker retries through it.
/// </summary>
internal static class RedisOutage
{
    /// <summary>
    /// The error prefixes of transient server states: a cluster reconfiguring (CLUSTERDOWN, TRYAGAIN, MOVED and ASK
    /// left over from a redirection storm), a replica or a node that is not ready (READONLY after a failover, LOADING,
    /// MASTERDOWN), and a server blocked by a long script (BUSY). Matched on the whole first word: BUSYGROUP and
    /// BUSYKEY are errors about the data, not outages.
    /// </summary>
    private static readonly HashSet<string> TransientPrefixes = new(StringComparer.Ordinal)
    {
        "CLUSTERDOWN", "TRYAGAIN", "MOVED", "ASK", "READONLY", "LOADING", "MASTERDOWN", "BUSY",
    };

    /// <summary>True when the failure, anywhere in its exception chain, is Redis unreachable, too slow, or in a transient state.</summary>
    public static bool IsOutage(Exception failure)
    {
        for (Exception? e = failure; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case RedisConnectionException or RedisTimeoutException:
                    return true;
                case RedisServerException server when IsTransientReply(server.Message):
                    return true;
            }
        }

        return false;
    }

    private static bool IsTransientReply(string message)
    {
        var end = message.IndexOf(' ', StringComparison.Ordinal);
        return TransientPrefixes.Contains(end < 0 ? message : message[..end]);
    }
}
