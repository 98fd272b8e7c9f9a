namespace RecoverableStreams.Administration;

/// <summary>A stream and its ownership record.</summary>
/// <param name="DataStreamName">
/// The data stream, or <see langword="null"/> when its LBS entry is gone or cannot be read (it is then still owned
/// until the owner's next write is refused).
/// </param>
/// <param name="IdInLbs">The stream's entry in the load-balancer stream (<see cref="LbsInfo.IdInLbs"/>).</param>
/// <param name="ConsumerId">The owning consumer.</param>
/// <param name="SessionId">The owning process start (see <see cref="ConsumerStatus.SessionId"/>).</param>
/// <param name="FencingToken">The owner's fencing token (<see cref="StreamLease.FencingToken"/>).</param>
/// <param name="Deadline">
/// The owning session's deadline (Redis's clock): the ownership ends then unless the session is renewed. A deadline in
/// the past means the session died and peers are taking the stream over.
/// </param>
public sealed record StreamOwner(
    string? DataStreamName,
    string IdInLbs,
    string ConsumerId,
    string SessionId,
    long FencingToken,
    DateTimeOffset Deadline);
