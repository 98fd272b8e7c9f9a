using Microsoft.Extensions.Logging;
using RecoverableStreams.Checkpoints;
using RecoverableStreams.Diagnostics;
using RecoverableStreams.Keys;
using RecoverableStreams.Leasing;
using RecoverableStreams.Notifications;
using RecoverableStreams.Parsing;
using RecoverableStreams.Partitioning;
using RecoverableStreams.Recovery;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams;

/// <summary>What the client's parts share: settings, names, Redis, the clock, the channel and the wake-ups.</summary>
internal sealed class ClientContext
{
    public ClientContext(IConnectionMultiplexer redis, RecoverableStreamOptions options, ILogger logger, TimeProvider time, string consumerId, string instanceId, CoreMetrics metrics, CancellationToken stopping)
    {
        Metrics = metrics;
        Redis = redis;
        Options = options;
        Logger = logger;
        Time = time;
        ConsumerId = consumerId;
        InstanceId = instanceId;
        Stopping = stopping;
        Database = redis.GetDatabase(options.Database);
        Layout = PartitionLayout.For(options);
        LeaseDuration = options.LeaseDuration;
        RenewInterval = options.RenewInterval ?? options.LeaseDuration / 5;
        // Half a renew interval (at most a second) for a replica to acknowledge a completion: WAIT blocks the shared
        // connection meanwhile, so a frozen replica must not hold renewals up for long.
        var replicaWait = TimeSpan.FromTicks(Math.Min(RenewInterval.Ticks / 2, TimeSpan.TicksPerSecond));
        Partitions = Layout.Partitions.Select((keys, i) => new Partition(i, keys, new StreamScripts(Database, keys, EntryLimits.From(options), RetentionRule.For(options), new ReplicaAcknowledgement(redis, keys.Lbs, replicaWait, time, logger)))).ToArray();
        Parser = new LbsEntryParser(options);
        Registry = new LeaseRegistry(options.MaxConcurrentStreams, Partitions.Count);
        Notifications = new NotificationChannel(options.MaxConcurrentStreams + 256, stopping);
        DataStreams = new DataStreamWatcher(redis, Database, options, Layout.Partitions.Select(k => k.Prefix).ToArray(), logger, time);
    }

    public IConnectionMultiplexer Redis { get; }

    public IDatabase Database { get; }

    public RecoverableStreamOptions Options { get; }

    public ILogger Logger { get; }

    /// <summary>The client's instruments; the client disposes them when it stops.</summary>
    public CoreMetrics Metrics { get; }

    public TimeProvider Time { get; }

    public string ConsumerId { get; }

    /// <summary>The random suffix of this process start: two processes sharing one consumer id stay apart.</summary>
    public string InstanceId { get; }

    /// <summary>This process: <c>consumerId|instance</c> (the reconciliation guard's value).</summary>
    public string ConsumerMember => ConsumerId + "|" + InstanceId;

    public CancellationToken Stopping { get; }

    /// <summary>The service's partitions and their key names (docs/PARTITIONS.md).</summary>
    public PartitionLayout Layout { get; }

    /// <summary>Every partition this client serves: all of the service's, in index order.</summary>
    public IReadOnlyList<Partition> Partitions { get; }

    public LbsEntryParser Parser { get; }

    public LeaseRegistry Registry { get; }

    /// <summary>
    /// The owner of this consumer's session (docs/ARCHITECTURE.md, "The consumer session"); set once by the client,
    /// which creates it with the lease operations it ends leases through.
    /// </summary>
    public ConsumerSession Session { get; private set; } = null!;

    public NotificationChannel Notifications { get; }

    /// <summary>Wakes handlers waiting for data-stream entries (<see cref="StreamLease.ReadEntriesAsync"/>).</summary>
    public DataStreamWatcher DataStreams { get; }

    public TimeSpan LeaseDuration { get; }

    public TimeSpan RenewInterval { get; }

    /// <summary>Creates the session owner; called once, by the client's constructor.</summary>
    public ConsumerSession CreateSession(LeaseOperations leases, ClaimCallBudget claimCalls) => Session = new ConsumerSession(this, leases, claimCalls);

    /// <summary>A session id never used before: <c>consumerId|random</c>.</summary>
    public string NewSessionId() => ConsumerId + "|" + Guid.NewGuid().ToString("N")[..16];

    /// <summary>The database number keyspace channels are named with.</summary>
    public int DatabaseNumber => Database.Database;

    /// <summary>A slot was freed: the acquirers of every partition may take more.</summary>
    public void CapacityFreed()
    {
        foreach (var partition in Partitions)
        {
            partition.ReaderWake.Set();
            partition.SchedulerWake.Set();
        }
    }

    /// <summary>The partition of an id made by <see cref="PartitionLayout.IdOf"/>, and the LBS entry id inside it.</summary>
    public bool TryResolve(string idInLbs, out Partition partition, out string entryId)
    {
        var found = Layout.TryParseId(idInLbs, out var index, out entryId);
        partition = Partitions[index];
        return found;
    }
}
