using RecoverableStreams.Configuration;

namespace RecoverableStreams;

/// <summary>
/// Settings of a <see cref="RecoverableStreamClient"/> and a <see cref="StreamPublisher"/>. A plain class with public
/// setters, so it binds from configuration; <see cref="Validate"/> names every option that is out of range.
/// </summary>
public sealed class RecoverableStreamOptions
{
    /// <summary>The name of the service; the LBS key and consumer group are derived from it. Required.</summary>
    /// <value>The default is <see langword="null"/>, which is invalid.</value>
    public string? ServiceName { get; set; }

    /// <summary>
    /// This consumer's name in the consumer group. Two processes may share it (a reused pod name): each still holds
    /// its own leases.
    /// </summary>
    /// <value>
    /// The default is <c>redis-consumer-</c> followed by <c>POD_NAME</c>, else <c>POD_IP</c>, else the machine name and
    /// process id.
    /// </value>
    public string? ConsumerId { get; set; }

    /// <summary>The Redis database number.</summary>
    /// <value>The default is -1: the connection's default database.</value>
    public int Database { get; set; } = -1;

    /// <summary>How long a lease lasts without renewal: the time a crashed owner keeps its streams.</summary>
    /// <value>The default is 10 seconds.</value>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How often this consumer's session, which holds all of its leases, is renewed: one small script call per
    /// partition. A renewal must be answered before the session's local deadline, which falls
    /// <c>RenewInterval + LeaseDuration / 10</c> before Redis' deadline; so a reply may take up to
    /// <c>LeaseDuration − 2 × RenewInterval − LeaseDuration / 10</c> (half the lease with the default) before every lease
    /// ends here. A garbage collection pause or a starved process longer than that ends the session.
    /// </summary>
    /// <value>
    /// The default is <see langword="null"/>: a fifth of <see cref="LeaseDuration"/>. At most a quarter of it (a reply
    /// may then take 40% of the lease).
    /// </value>
    public TimeSpan? RenewInterval { get; set; }

    /// <summary>The longest the deadline scheduler sleeps before it looks for expired leases again.</summary>
    /// <value>The default is 5 seconds.</value>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often one consumer of the group repairs the pending list (the safety net behind the deadline index).</summary>
    /// <value>The default is 60 seconds.</value>
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The most streams this consumer owns at once; it reads and claims no more than that.</summary>
    /// <value>The default is 100.</value>
    public int MaxConcurrentStreams { get; set; } = 100;

    /// <summary>What the client does with the server's keyspace notification flags.</summary>
    /// <value>The default is <see cref="KeyspaceNotificationsMode.Merge"/>.</value>
    public KeyspaceNotificationsMode KeyspaceNotifications { get; set; } = KeyspaceNotificationsMode.Merge;

    /// <summary>The longest the reader waits for a wake-up before it looks for new LBS entries anyway.</summary>
    /// <value>The default is 1 second.</value>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How often the delivery of <c>xadd</c> keyevents is proven, for handlers waiting in
    /// <see cref="StreamLease.ReadEntriesAsync"/>: one canary <c>XADD</c> per primary to a key of this service, whose own
    /// event must come back before the next check. While it does, no waiting stream is polled at all; after a missed
    /// canary, a resubscription or a subscription failure, the streams are polled (see <see cref="SafetyPollBudget"/>)
    /// until a canary comes back, and once more after that.
    /// </summary>
    /// <value>The default is 5 seconds.</value>
    public TimeSpan DeliveryCheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The most waiting data streams the safety poll checks per second (one <c>XREVRANGE</c> each, inside a script
    /// call per 500), while <c>xadd</c> delivery is not proven: then every waiting stream is checked every
    /// <see cref="PollInterval"/>, or less often when that would exceed this budget.
    /// </summary>
    /// <value>The default is 5,000 streams per second.</value>
    public int SafetyPollBudget { get; set; } = 5000;

    /// <summary>
    /// When set, a stream whose holder has shown no progress (read, checkpoint or heartbeat) for this long is released
    /// (that stream only; the consumer's other streams stay owned), so a hung-but-alive worker loses it to a peer.
    /// </summary>
    /// <value>The default is <see langword="null"/>: leases are renewed as long as the process runs.</value>
    public TimeSpan? HandlerStallTimeout { get; set; }

    /// <summary>
    /// <see langword="false"/>: expired and released streams are announced as <see cref="StreamNotificationType.StreamExpired"/>
    /// and <see cref="StreamNotificationType.StreamReleased"/>, and the application calls <c>ClaimAsync</c>.
    /// <see langword="true"/>: the client claims them itself within its capacity and announces <see cref="StreamNotificationType.StreamAdded"/>.
    /// </summary>
    /// <value>The default is <see langword="false"/> (the Go library's model); the hosting integration sets it.</value>
    public bool AutoClaim { get; set; }

    /// <summary>
    /// Live rebalancing (with <see cref="AutoClaim"/>): a consumer that owns more than its fair share hands streams over
    /// to less loaded peers, a bounded number per <see cref="RenewInterval"/>, until the owned counts of the live
    /// consumers are within one of each other (max/min ≤ 1.2 with more than ~5 streams each); each handed-over stream is
    /// released first (its lease ends: <see cref="StreamLease.OwnershipLost"/> fires and a
    /// <see cref="StreamNotificationType.StreamDisowned"/> is posted) and then claimed by the peer, which resumes from the
    /// last checkpoint. Fair shares count each consumer's <see cref="MaxConcurrentStreams"/>. With
    /// <see langword="false"/>, this consumer never hands over a stream for balance, and it claims free streams up to its
    /// free capacity (other consumers still rebalance among themselves).
    /// </summary>
    /// <value>The default is <see langword="true"/>. Ignored without <see cref="AutoClaim"/>.</value>
    public bool Rebalance { get; set; } = true;

    /// <summary>Overrides the LBS key.</summary>
    /// <value>The default is <see langword="null"/>: <c>&lt;ServiceName&gt;-input</c>.</value>
    public string? LbsStreamKey { get; set; }

    /// <summary>
    /// How many partitions the service's control plane is split into. Each partition has its own LBS stream and
    /// control keys under its own cluster hash tag, so on a Redis Cluster they spread over the shards; a data stream's
    /// partition is CRC16/XMODEM of its name's UTF-8 bytes modulo this count. Producers and consumers of a service must
    /// use the same value, and changing it on a running service strands the entries of the old layout (docs/PARTITIONS.md).
    /// </summary>
    /// <value>The default is 1: one LBS stream, <c>&lt;ServiceName&gt;-input</c>, the Go library's layout. At most 1024.</value>
    public int Partitions { get; set; } = 1;

    /// <summary>Overrides the consumer group name.</summary>
    /// <value>The default is <see langword="null"/>: <c>&lt;ServiceName&gt;-group</c>.</value>
    public string? ConsumerGroup { get; set; }

    /// <summary>The longest data stream name an LBS entry may announce; longer ones are dead-lettered.</summary>
    /// <value>The default is 1024 characters.</value>
    public int MaxDataStreamNameLength { get; set; } = 1024;

    /// <summary>The largest <c>lbs-input</c> payload accepted; larger ones are dead-lettered.</summary>
    /// <value>The default is 65536 bytes.</value>
    public int MaxLbsPayloadBytes { get; set; } = 64 * 1024;

    /// <summary>The deepest JSON nesting accepted in an LBS payload; deeper ones are dead-lettered.</summary>
    /// <value>The default is 16.</value>
    public int MaxInfoDepth { get; set; } = 16;

    /// <summary>The most fields an LBS entry may have; entries with more are dead-lettered.</summary>
    /// <value>The default is 16.</value>
    public int MaxLbsEntryFields { get; set; } = 16;

    /// <summary>The most entries kept in the dead-letter stream (trimmed approximately, oldest first).</summary>
    /// <value>The default is 100000.</value>
    public int DeadLetterMaxLength { get; set; } = 100_000;

    /// <summary>
    /// What happens to a data stream's key when its stream is completed or dead-lettered by its owner: kept, deleted, or
    /// set to expire after <see cref="DataStreamRetentionPeriod"/>. Applied in the same script as the completion or the
    /// dead letter when the data stream's key is on the same node and slot as the service's control keys (a single
    /// server or Sentinel, or a name with the service's hash tag on a Redis Cluster); otherwise by one command right
    /// after it (docs/OPERATIONS.md, "Retention of data streams").
    /// </summary>
    /// <value>The default is <see cref="RecoverableStreams.DataStreamRetention.Keep"/>.</value>
    public DataStreamRetention DataStreamRetention { get; set; } = DataStreamRetention.Keep;

    /// <summary>How long a data stream is kept after its stream ended, with <see cref="RecoverableStreams.DataStreamRetention.Expire"/>.</summary>
    /// <value>The default is 1 day.</value>
    public TimeSpan DataStreamRetentionPeriod { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Checks every option and returns one message per problem, naming the option and the rule.</summary>
    /// <returns>The problems; empty when the options are valid.</returns>
    public IReadOnlyList<string> Validate() => RecoverableStreamOptionsValidator.Validate(this);
}
