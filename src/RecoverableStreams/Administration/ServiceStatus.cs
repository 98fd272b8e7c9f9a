namespace RecoverableStreams.Administration;

/// <summary>A service at one moment: its load-balancer stream, its consumers and its dead letters.</summary>
/// <param name="ServiceName">The service (<see cref="RecoverableStreamOptions.ServiceName"/>).</param>
/// <param name="LbsStreamKey">The key of the load-balancer stream (LBS); with several partitions, the base key.</param>
/// <param name="ConsumerGroup">The consumer group on the LBS.</param>
/// <param name="ServerTime">Redis's clock when the status was read; heartbeat ages and deadlines are measured on it.</param>
/// <param name="EntriesInLbs">Entries in the LBS: announced streams not yet completed or dead-lettered.</param>
/// <param name="Lag">
/// Entries not yet delivered to any consumer, or <see langword="null"/> when Redis cannot tell (a group created before
/// Redis 7, or entries deleted out of order) or the group does not exist yet.
/// </param>
/// <param name="Pending">Entries delivered and not yet completed: owned, or waiting to be taken over.</param>
/// <param name="Owned">Streams with an ownership record.</param>
/// <param name="DeadLetters">Entries in the dead-letter stream.</param>
/// <param name="Consumers">
/// The consumers' sessions, earliest deadline first: the live ones, and dead ones whose streams are not yet taken over.
/// </param>
public sealed record ServiceStatus(
    string ServiceName,
    string LbsStreamKey,
    string ConsumerGroup,
    DateTimeOffset ServerTime,
    long EntriesInLbs,
    long? Lag,
    long Pending,
    long Owned,
    long DeadLetters,
    IReadOnlyList<ConsumerStatus> Consumers)
{
    /// <summary>Gets the service's partition count; with more than one, <see cref="LbsStreamKey"/> is the base key the partitions' keys derive from and the counts are summed.</summary>
    /// <value>The default is 1.</value>
    public int Partitions { get; init; } = 1;
}
