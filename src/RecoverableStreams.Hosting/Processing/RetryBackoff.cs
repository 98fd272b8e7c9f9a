namespace RecoverableStreams.Hosting.Processing;

/// <summary>
/// The pause before a failed stream is released for its next attempt (<see cref="HandlerRetryOptions"/>): exponential
/// from <see cref="HandlerRetryOptions.InitialDelay"/>, jittered, at most <see cref="HandlerRetryOptions.MaxDelay"/> and
/// at most half of <see cref="RecoverableStreamOptions.HandlerStallTimeout"/> (the lease is held, and renewed, during the
/// pause). Short by default: the attempt count lives in Redis, and the next attempt may run elsewhere.
/// </summary>
internal static class RetryBackoff
{
    /// <param name="failedAttempts">Failed attempts so far (1 after the first failure).</param>
    /// <param name="retry">The retry settings.</param>
    /// <param name="stallTimeout">The handler stall timeout, when set.</param>
    /// <param name="random">A uniform number in [0, 1): where the pause falls within the jitter.</param>
    public static TimeSpan For(long failedAttempts, HandlerRetryOptions retry, TimeSpan? stallTimeout, double random)
    {
        var exponent = (int)Math.Clamp(failedAttempts - 1, 0, 30);
        var exponential = Math.Min(retry.InitialDelay.Ticks * Math.Pow(2, exponent), retry.MaxDelay.Ticks);
        var jitter = Math.Clamp(retry.Jitter, 0, 1);
        var ticks = exponential * (1 + (jitter * ((2 * random) - 1)));
        var delay = TimeSpan.FromTicks((long)Math.Clamp(ticks, 0, retry.MaxDelay.Ticks));
        if (stallTimeout is { } stall && delay > stall / 2)
        {
            delay = stall / 2;
        }

        return delay;
    }
}
