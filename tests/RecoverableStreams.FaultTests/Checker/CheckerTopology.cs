namespace RecoverableStreams.FaultTests.Checker;

/// <summary>What the consumers of a checker run connect to, and so which Redis faults the nemesis can inject.</summary>
internal enum CheckerTopology
{
    /// <summary>One redis-server with AOF, each consumer behind its own TCP proxy: partitions and Redis restarts.</summary>
    SingleRedis,

    /// <summary>
    /// A Sentinel group (primary, replica, 3 sentinels, <c>min-replicas-to-write 1</c>), reached through the sentinels:
    /// Sentinel failovers (planned, or the primary killed). No partitions: see <see cref="CheckerSentinel"/>.
    /// </summary>
    Sentinel,
}
