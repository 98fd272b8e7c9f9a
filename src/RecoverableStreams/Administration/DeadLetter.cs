namespace RecoverableStreams.Administration;

/// <summary>An LBS entry moved to the dead-letter stream: a stream that failed too often or could not be read.</summary>
/// <param name="Id">The entry's id in the dead-letter stream: what replay and purge take.</param>
/// <param name="IdInLbs">The id the entry had in the load-balancer stream.</param>
/// <param name="DataStreamName">The data stream it announced, or <see langword="null"/> when its payload cannot be read.</param>
/// <param name="Reason">Why it was dead-lettered.</param>
/// <param name="ConsumerId">The consumer that dead-lettered it.</param>
/// <param name="Attempts">The failed attempts counted before.</param>
/// <param name="Time">When it was dead-lettered (Redis's clock).</param>
/// <param name="OriginalFields">The LBS entry's fields, as announced: what a replay announces again.</param>
public sealed record DeadLetter(
    string Id,
    string IdInLbs,
    string? DataStreamName,
    string Reason,
    string ConsumerId,
    long Attempts,
    DateTimeOffset Time,
    IReadOnlyDictionary<string, string> OriginalFields);
