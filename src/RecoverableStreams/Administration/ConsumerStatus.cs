namespace RecoverableStreams.Administration;

/// <summary>One consumer process: its session, the session's deadline and the heartbeat that set it.</summary>
/// <param name="ConsumerId">The consumer's name (<see cref="RecoverableStreamOptions.ConsumerId"/>).</param>
/// <param name="SessionId">
/// The random part of the consumer's session id (<c>consumerId|random</c>): one per process start, so two processes
/// sharing one consumer name, or one process after it lost its session, show as different sessions.
/// </param>
/// <param name="LastHeartbeat">
/// When the session was last renewed (Redis's clock): its deadline less the <see cref="RecoverableStreamOptions.LeaseDuration"/>
/// of the options the operator API was created with, so give it the consumers' value.
/// </param>
/// <param name="HeartbeatAge">How long ago that was, on Redis's clock.</param>
/// <param name="SessionDeadline">When the session dies unless renewed; past it, peers take its streams over.</param>
/// <param name="IsLive">Whether the deadline is still ahead: a dead session is listed until its streams are taken over.</param>
/// <param name="OwnedStreams">Streams this session owns now.</param>
public sealed record ConsumerStatus(
    string ConsumerId,
    string SessionId,
    DateTimeOffset LastHeartbeat,
    TimeSpan HeartbeatAge,
    DateTimeOffset SessionDeadline,
    bool IsLive,
    long OwnedStreams);
