namespace RecoverableStreams.Hosting;

/// <summary>
/// The pause between a failed handler attempt and the stream's release for the next one (section
/// <c>RecoverableStreams:HandlerRetry</c>): <see cref="InitialDelay"/> doubled per failed attempt, at most
/// <see cref="MaxDelay"/>, spread by <see cref="Jitter"/>, and never more than half of
/// <see cref="RecoverableStreamOptions.HandlerStallTimeout"/>. The lease is held (and renewed) during the pause; the
/// next attempt may run on another worker.
/// </summary>
public sealed class HandlerRetryOptions
{
    /// <summary>The pause after the first failed attempt.</summary>
    /// <value>The default is 500 ms.</value>
    public TimeSpan InitialDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest pause, however many attempts failed.</summary>
    /// <value>The default is 5 s.</value>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How far each pause may move from its exponential value, as a fraction of it (0 to 1): with 0.2 a 1 s pause is
    /// anywhere from 0.8 s to 1.2 s (then capped by <see cref="MaxDelay"/>). Spreads the retries of streams that failed
    /// together, for example on a downstream outage.
    /// </summary>
    /// <value>The default is 0.2.</value>
    public double Jitter { get; set; } = 0.2;
}
