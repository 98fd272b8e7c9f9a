namespace RecoverableStreams.Administration;

/// <summary>What replaying one dead letter did.</summary>
/// <param name="DeadLetterId">The dead letter asked for.</param>
/// <param name="Outcome">Whether it was announced again.</param>
/// <param name="NewIdInLbs">
/// The new LBS entry when <see cref="Outcome"/> is <see cref="DeadLetterReplayOutcome.Replayed"/>; the live one when it is
/// <see cref="DeadLetterReplayOutcome.AlreadyAnnounced"/>.
/// </param>
public sealed record DeadLetterReplay(string DeadLetterId, DeadLetterReplayOutcome Outcome, string? NewIdInLbs);

/// <summary>The outcome of replaying one dead letter.</summary>
public enum DeadLetterReplayOutcome
{
    /// <summary>Announced again as a new LBS entry with the original fields, and removed from the dead letters.</summary>
    Replayed,

    /// <summary>No dead letter has this id (already replayed or purged).</summary>
    NotFound,

    /// <summary>The dead letter kept no original fields (its LBS entry was gone): nothing to announce; it is kept.</summary>
    NoOriginalFields,

    /// <summary>
    /// Its data stream already has a live announcement (<see cref="DeadLetterReplay.NewIdInLbs"/> names it): announcing
    /// it twice would make consumers dead-letter the second as a duplicate; the dead letter is kept.
    /// </summary>
    AlreadyAnnounced,
}
