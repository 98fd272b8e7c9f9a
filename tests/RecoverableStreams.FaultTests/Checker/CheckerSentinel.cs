using System.Globalization;
using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.FaultTests.Checker;

/// <summary>
/// The Redis of a checker run in <see cref="CheckerTopology.Sentinel"/>: the integration tests' Sentinel group (primary,
/// replica, 3 sentinels) with <c>min-replicas-to-write 1</c>, the configuration we recommend, reached the way a user
/// would: the sentinels' endpoints and the service name. It makes the nemesis's failovers and proves each one bit.
/// No partitions in this topology: a consumer asks the sentinels for the primary's address and connects to it
/// directly, so a per-consumer proxy would have to stand in front of whichever node is primary, follow each failover
/// and rewrite the sentinels' replies; a freeze still cuts a consumer off for as long.
/// </summary>
internal sealed class CheckerSentinel : IAsyncDisposable
{
    /// <summary>
    /// How long one step of a failover may take. An automatic one (the primary killed) starts only 2 x failover-timeout
    /// (12 s) after the group's previous failover, so a kill soon after a failover waits that long.
    /// </summary>
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(45);

    private readonly RedisSentinelGroup _group;

    private CheckerSentinel(RedisSentinelGroup group) => _group = group;

    public static async Task<CheckerSentinel> StartAsync() => new(await RedisSentinelGroup.StartAsync(refuseWritesWithoutReplica: true));

    /// <summary>
    /// The consumers' connection: through the sentinels, which StackExchange.Redis follows to each new primary. The
    /// command timeout below the lease, as in the single-Redis topology.
    /// </summary>
    public string WorkerConnectionString =>
        string.Join(",", _group.SentinelPorts.Select(p => "127.0.0.1:" + p.ToString(CultureInfo.InvariantCulture)))
        + $",serviceName={RedisSentinelGroup.ServiceName},abortConnect=false,connectTimeout=1000,syncTimeout=1500,asyncTimeout=1500";

    /// <summary>The harness's own connection (producer, drain check), through the sentinels as well.</summary>
    public Task<ConnectionMultiplexer> ConnectAdminAsync() => _group.ConnectAsync();

    /// <summary>
    /// One failover of <paramref name="kind"/>, from a healthy group (it first waits until the sentinels agree and the
    /// replica is in sync, as after the previous failover), returned as soon as the move is visible: every sentinel
    /// names the new primary and it says role master. The group heals on its own after that (the old primary becomes a
    /// replica: about 8 s after a planned failover, a full sync after a kill; until then the new primary refuses
    /// writes, NOREPLICAS), while the nemesis goes on with the consumers. The move is what the sentinels name before
    /// and after, never assumed.
    /// </summary>
    public async Task<PrimaryMove> FailoverAsync(FailoverKind kind)
    {
        var before = await WaitHealthyAsync();
        var promoted = _group.Other(before);
        if (kind == FailoverKind.Planned)
        {
            await _group.FailoverAsync();
            await _group.WaitPromotedAsync(promoted, Settle);
        }
        else
        {
            await _group.KillAsync(before);
            await _group.WaitPromotedAsync(promoted, Settle);
            // Back without its data (a lost pod), to sync from the new primary.
            await _group.RestartAsReplicaAsync(before, promoted);
        }

        var after = await PrimaryAsync();
        return new PrimaryMove(kind, before.Port, after.Port);
    }

    /// <summary>Waits until the sentinels agree on the primary and the other node replicates from it; returns the primary.</summary>
    public async Task<RedisSentinelGroup.DataNode> WaitHealthyAsync()
    {
        var primary = await PrimaryAsync();
        await _group.WaitAgreedAsync(primary, Settle);
        return primary;
    }

    public ValueTask DisposeAsync() => _group.DisposeAsync();

    private async Task<RedisSentinelGroup.DataNode> PrimaryAsync() =>
        await _group.PrimaryAsync() ?? throw new InvalidOperationException("No sentinel names a primary.");
}
