namespace RecoverableStreams.Administration;

/// <summary>One consumer process and its last heartbeat.</summary>
/// <param name="ConsumerId">The consumer's name (<see cref="RecoverableStreamOptions.ConsumerId"/>).</param>
/// <param name="SessionId">
/// The process start the heartbeat came from: two processes sharing one consumer name have different sessions.
/// </param>
/// <param name="LastHeartbeat">When the consumer last renewed (Redis's clock).</param>
/// <param name="HeartbeatAge">How long ago that was, on Redis's clock.</param>
/// <param name="OwnedStreams">Streams this session owns now.</param>
public sealed record ConsumerStatus(
    string ConsumerId,
    string SessionId,
    DateTimeOffset LastHeartbeat,
    TimeSpan HeartbeatAge,
    int OwnedStreams);
