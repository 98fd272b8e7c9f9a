namespace RecoverableStreams.Administration;

/// <summary>One page of dead letters, oldest first.</summary>
/// <param name="Items">The dead letters of this page.</param>
/// <param name="Next">
/// The cursor of the next page (pass it as <c>after</c>), or <see langword="null"/> when this page is the last.
/// </param>
public sealed record DeadLetterPage(IReadOnlyList<DeadLetter> Items, string? Next);
