namespace RecoverableStreams.Hosting.Processing;

/// <summary>What kind of Redis outage a failure is (<see cref="RedisOutage.Classify"/>); every kind spends no attempt.</summary>
internal enum RedisOutageKind
{
    /// <summary>Unreachable, too slow, or a transient state (failover, loading, cluster reconfiguring, a long script): passes by itself.</summary>
    Transient,

    /// <summary>Redis refuses writes for lack of memory (<c>OOM</c>: <c>maxmemory</c> reached with <c>noeviction</c>).</summary>
    OutOfMemory,

    /// <summary>The ACL user lacks a command, key or channel (<c>NOPERM</c>, or a script's ACL refusal).</summary>
    Permission,

    /// <summary>The connection is not authenticated (<c>NOAUTH</c>, <c>WRONGPASS</c>).</summary>
    Authentication,

    /// <summary>Redis refuses writes because persistence failed (<c>MISCONF</c>).</summary>
    Persistence,
}
