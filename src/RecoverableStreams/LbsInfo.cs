namespace RecoverableStreams;

/// <summary>
/// Identifies one piece of work: a data stream announced by one entry of the load-balancer stream (LBS).
/// </summary>
/// <param name="DataStreamName">The Redis key of the data stream to work on.</param>
/// <param name="IdInLbs">The id of the announcing entry in the LBS; the lease belongs to this id.</param>
/// <remarks>
/// The same data stream announced twice is two independent pieces of work with two different <see cref="IdInLbs"/>.
/// </remarks>
public sealed record LbsInfo(string DataStreamName, string IdInLbs);
