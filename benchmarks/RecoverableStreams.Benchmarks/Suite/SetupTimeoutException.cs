namespace RecoverableStreams.Benchmarks.Suite;

/// <summary>
/// A row could not reach its starting state (N streams owned) within its deadline. The suite reports the message as
/// the row's value and skips that library's later rows at this N and above: each would wait out the same deadline.
/// </summary>
internal sealed class SetupTimeoutException(string message) : Exception(message);
