using Microsoft.Extensions.Logging;
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
        Session = new SessionState(time);
        Notifications = new NotificationChannel(options.MaxConcurrentStreams + 256, stopping);
        LeaseDuration = options.LeaseDuration;
        RenewInterval = options.RenewInterval ?? options.LeaseDuration / 3;
    }

    public IConnectionMultiplexer Redis { get; }

    public IDatabase Database { get; }

    public RecoverableStreamOptions Options { get; }

    public ILogger Logger { get; }

    public TimeProvider Time { get; }

    public string ConsumerId { get; }

    /// <summary>The random suffix of this process start: two processes sharing one consumer id stay apart.</summary>
    public string InstanceId { get; }

    /// <summary>This process: <c>consumerId|instance</c> (the reconciliation guard's value).</summary>
    public string ConsumerMember => ConsumerId + "|" + InstanceId;

    public CancellationToken Stopping { get; }

    public StreamKeys Keys { get; }

    public StreamScripts Scripts { get; }

    public LbsEntryParser Parser { get; }

    public LeaseRegistry Registry { get; }

    /// <summary>This consumer's current session (docs/ARCHITECTURE.md, "Sessions and their deadlines").</summary>
    public SessionState Session { get; }

    public NotificationChannel Notifications { get; }

    public TimeSpan LeaseDuration { get; }

    public TimeSpan RenewInterval { get; }

    /// <summary>Wakes the LBS reader: a new entry, or a free slot.</summary>
    public WakeUpSignal ReaderWake { get; } = new();

    /// <summary>Wakes the session renewer: the session ended and a new one must be opened.</summary>
    public WakeUpSignal RenewerWake { get; } = new();

    /// <summary>Wakes the deadline scheduler: a release, a closed session, a repaired entry, or a free slot.</summary>
    public WakeUpSignal SchedulerWake { get; } = new();

    /// <summary>Ids released by peers recently, so an unclaimed one is announced as released rather than expired.</summary>
    public RecentIds RecentlyReleased { get; } = new(capacity: 4096);

    /// <summary>A session id never used before: <c>consumerId|random</c>.</summary>
    public string NewSessionId() => ConsumerId + "|" + Guid.NewGuid().ToString("N")[..16];

    /// <summary>The database number keyspace channels are named with.</summary>
    public int DatabaseNumber => Database.Database;

    /// <summary>A slot was freed: both acquirers may take more.</summary>
    public void CapacityFreed()
    {
        ReaderWake.Set();
        SchedulerWake.Set();
    }
}
