namespace RecoverableStreams.Hosting.Processing;

/// <summary>
/// The pause before a failed stream is released for its next attempt: 500 ms doubled per failed attempt, at most
/// 5 s, and at most half of <see cref="RecoverableStreamOptions.HandlerStallTimeout"/> (the lease is held, and renewed,
/// during the pause). Short on purpose: the attempt count lives in Redis, and the next attempt may run elsewhere.
/// </summary>
internal static class RetryBackoff
{
    public static readonly TimeSpan Initial = TimeSpan.FromMilliseconds(500);

    public static readonly TimeSpan Maximum = TimeSpan.FromSeconds(5);

    public static TimeSpan For(long failedAttempts, RecoverableStreamOptions options)
    {
        var exponent = (int)Math.Clamp(failedAttempts - 1, 0, 16);
        var delay = TimeSpan.FromTicks(Math.Min(Initial.Ticks << exponent, Maximum.Ticks));
        if (options.HandlerStallTimeout is { } stall && delay > stall / 2)
        {
            delay = stall / 2;
        }

        return delay;
    }
}
