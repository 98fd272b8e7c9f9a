using Microsoft.Extensions.Logging;
using RecoverableStreams.Checkpoints;
using RecoverableStreams.Keys;
using RecoverableStreams.Leasing;
using RecoverableStreams.Notifications;
using RecoverableStreams.Parsing;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams;

/// <summary>What the client's parts share: settings, names, Redis, the clock, the channel and the wake-ups.</summary>
internal sealed class ClientContext
{
    public ClientContext(IConnectionMultiplexer redis, RecoverableStreamOptions options, ILogger logger, TimeProvider time, string consumerId, string instanceId, CancellationToken stopping)
    {
        Redis = redis;
        Options = options;
        Logger = logger;
        Time = time;
        ConsumerId = consumerId;
        InstanceId = instanceId;
        Stopping = stopping;
        Keys = StreamKeys.For(options);
        Database = redis.GetDatabase(options.Database);
        Scripts = new StreamScripts(Database, Keys);
        Parser = new LbsEntryParser(options);
        Registry = new LeaseRegistry(options.MaxConcurrentStreams);
        Notifications = new NotificationChannel(options.MaxConcurrentStreams + 256, stopping);
        DataStreams = new DataStreamWatcher(redis, Database, options, logger, time);
        LeaseDuration = options.LeaseDuration;
        RenewInterval = options.RenewInterval ?? options.LeaseDuration / 3;
    }

    public IConnectionMultiplexer Redis { get; }

    public IDatabase Database { get; }

    public RecoverableStreamOptions Options { get; }

    public ILogger Logger { get; }

    public TimeProvider Time { get; }

    public string ConsumerId { get; }

    /// <summary>The random suffix of this process start (DESIGN.md section 8).</summary>
    public string InstanceId { get; }

    /// <summary>This process in the consumers registry: <c>consumerId|instance</c>.</summary>
    public string ConsumerMember => ConsumerId + "|" + InstanceId;

    /// <summary>A lease value is this prefix followed by the fencing token.</summary>
    public string LeaseValuePrefix => ConsumerMember + "|";

    public CancellationToken Stopping { get; }

    public StreamKeys Keys { get; }

    public StreamScripts Scripts { get; }

    public LbsEntryParser Parser { get; }

    public LeaseRegistry Registry { get; }

    public NotificationChannel Notifications { get; }

    /// <summary>Wakes handlers waiting for data-stream entries (<see cref="StreamLease.ReadEntriesAsync"/>).</summary>
    public DataStreamWatcher DataStreams { get; }

    public TimeSpan LeaseDuration { get; }

    public TimeSpan RenewInterval { get; }

    /// <summary>Wakes the LBS reader: a new entry, or a free slot.</summary>
    public WakeUpSignal ReaderWake { get; } = new();

    /// <summary>Wakes the deadline scheduler: a release, an expiry event, a repaired entry, or a free slot.</summary>
    public WakeUpSignal SchedulerWake { get; } = new();

    /// <summary>Ids released by peers recently, so an unclaimed one is announced as released rather than expired.</summary>
    public RecentIds RecentlyReleased { get; } = new(capacity: 4096);

    /// <summary>The database number keyspace channels are named with.</summary>
    public int DatabaseNumber => Database.Database;

    /// <summary>A slot was freed: both acquirers may take more.</summary>
    public void CapacityFreed()
    {
        ReaderWake.Set();
        SchedulerWake.Set();
    }
}
