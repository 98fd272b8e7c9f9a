using Microsoft.Extensions.Logging;
using RecoverableStreams.Diagnostics;
using StackExchange.Redis;

namespace RecoverableStreams.Scripts;

/// <summary>
/// Whether a write this process made on a partition's primary has reached a replica (docs/ARCHITECTURE.md, "Writes a
/// failover must not lose"). Redis replicates asynchronously: a primary that fails over (a Sentinel failover, a Cluster
/// replica promoted) takes with it what its replica had not received, and a completion lost that way means the stream is
/// processed a second time. So a completion is reported done only once <c>WAIT 1</c>, sent on the write's connection after
/// its reply (WAIT covers every earlier write of its connection), says a replica has it. A primary without replicas (a
/// single server) needs no WAIT: its replica count is read with <c>ROLE</c> at most every <see cref="RoleRefresh"/>.
/// One WAIT is in flight per partition at a time and covers every write whose reply came before it was sent: WAIT blocks
/// its connection, and with a frozen replica one WAIT per write would block it once per write.
/// </summary>
internal sealed class ReplicaAcknowledgement
{
    private static readonly TimeSpan RoleRefresh = TimeSpan.FromSeconds(5);

    private readonly IConnectionMultiplexer _redis;
    private readonly RedisKey _routing;
    private readonly long _timeoutMs;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private TaskCompletionSource<bool>? _next;
    private bool _waiting;
    private readonly ConnectionChanges _changes;
    private int _replicas = -1;
    private long _replicasReadAt;
    private int _refused;

    /// <param name="redis">The connection the writes go through.</param>
    /// <param name="routing">A key of the partition: its primary is the server asked.</param>
    /// <param name="timeout">How long one WAIT waits for a replica.</param>
    /// <param name="time">The clock of the replica count's refresh.</param>
    /// <param name="logger">Where a refused <c>ROLE</c> or <c>WAIT</c> is reported, once.</param>
    public ReplicaAcknowledgement(IConnectionMultiplexer redis, RedisKey routing, TimeSpan timeout, TimeProvider time, ILogger logger)
    {
        _logger = logger;
        _redis = redis;
        _routing = routing;
        _timeoutMs = Math.Max(1, (long)timeout.TotalMilliseconds);
        _time = time;
        _changes = ConnectionChanges.Of(redis);
    }

    /// <summary>How long one WAIT waits for a replica.</summary>
    public TimeSpan Timeout => TimeSpan.FromMilliseconds(_timeoutMs);

    /// <summary>
    /// Runs <paramref name="write"/> and returns its reply with whether a replica acknowledged it (always
    /// <see langword="true"/> on a primary without replicas). <paramref name="write"/> must send one command to the
    /// partition's primary.
    /// </summary>
    public async Task<(T Reply, bool Replicated)> WriteAsync<T>(Func<Task<T>> write)
    {
        var replicas = await ReplicasAsync().ConfigureAwait(false);
        var changesBefore = _changes.Count;
        var reply = await write().ConfigureAwait(false);
        if (replicas == 0)
        {
            return (reply, true);
        }

        var acknowledged = await NextWaitAsync().ConfigureAwait(false);
        return (reply, acknowledged && _changes.Count == changesBefore);
    }

    /// <summary>The primary's replicas, as <c>ROLE</c> said at most <see cref="RoleRefresh"/> ago (-1: not known, WAIT anyway).</summary>
    private async Task<int> ReplicasAsync()
    {
        var readAt = Interlocked.Read(ref _replicasReadAt);
        if (readAt != 0 && _time.GetElapsedTime(readAt) < RoleRefresh)
        {
            return Volatile.Read(ref _replicas);
        }

        if (Volatile.Read(ref _refused) != 0)
        {
            return 0;
        }

        int replicas;
        try
        {
            replicas = await _redis.GetServer(_routing).RoleAsync().ConfigureAwait(false) is Role.Master master ? master.Replicas.Count : -1;
        }
        catch (RedisServerException ex) when (IsRefused(ex))
        {
            Refused(ex);
            return 0;
        }
        catch (RedisException)
        {
            replicas = -1;
        }

        Volatile.Write(ref _replicas, replicas);
        Interlocked.Exchange(ref _replicasReadAt, _time.GetTimestamp());
        return replicas;
    }

    /// <summary>The outcome of the next WAIT sent from now on (one in flight at a time; callers meanwhile share the next).</summary>
    private Task<bool> NextWaitAsync()
    {
        lock (_gate)
        {
            _next ??= new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            var next = _next.Task;
            if (!_waiting)
            {
                _waiting = true;
                _ = SendWaitsAsync();
            }

            return next;
        }
    }

    private async Task SendWaitsAsync()
    {
        while (true)
        {
            TaskCompletionSource<bool> group;
            lock (_gate)
            {
                if (_next is null)
                {
                    _waiting = false;
                    return;
                }

                group = _next;
                _next = null;
            }

            bool acknowledged;
            try
            {
                acknowledged = (long)await _redis.GetServer(_routing).ExecuteAsync("WAIT", 1, _timeoutMs).ConfigureAwait(false) >= 1;
            }
            catch (RedisServerException ex) when (IsRefused(ex))
            {
                // Not allowed to ask: treated as a server without replicas from now on (reported once).
                Refused(ex);
                acknowledged = true;
            }
            #pragma warning disable CA1031 // any failure means "not acknowledged"; the loop must serve the next group
            catch (Exception)
            #pragma warning restore CA1031
            {
                acknowledged = false;
            }

            if (!acknowledged)
            {
                // The replicas may have changed (one left, a failover): read them again next time.
                Interlocked.Exchange(ref _replicasReadAt, 0);
            }

            group.SetResult(acknowledged);
        }
    }

    /// <summary>An ACL without <c>+role</c> or <c>+wait</c> (docs/SECURITY.md), or a command renamed away.</summary>
    private static bool IsRefused(RedisServerException ex) =>
        ex.Message.StartsWith("NOPERM", StringComparison.Ordinal) || ex.Message.StartsWith("ERR unknown command", StringComparison.Ordinal);

    /// <summary>
    /// Completions are then done once the primary has them, as on a server without replicas: a failover can lose one.
    /// Said once, as a warning, rather than waiting out every completion for an acknowledgement that cannot come.
    /// </summary>
    private void Refused(RedisServerException ex)
    {
        if (Interlocked.Exchange(ref _refused, 1) == 0)
        {
            Log.ReplicaAcknowledgementRefused(_logger, ex.Message);
        }
    }

    /// <summary>
    /// Counts the connection's failures and restorations: a write and its WAIT must share one connection, and a
    /// reconnect between them (a failover) voids the WAIT. One per multiplexer, living as long as it does, whatever
    /// the number of clients on it.
    /// </summary>
    private sealed class ConnectionChanges
    {
        private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<IConnectionMultiplexer, ConnectionChanges> All = [];
        private long _count;

        public long Count => Interlocked.Read(ref _count);

        public static ConnectionChanges Of(IConnectionMultiplexer redis) => All.GetValue(redis, static r =>
        {
            var changes = new ConnectionChanges();
            r.ConnectionFailed += (_, _) => Interlocked.Increment(ref changes._count);
            r.ConnectionRestored += (_, _) => Interlocked.Increment(ref changes._count);
            return changes;
        });
    }
}
