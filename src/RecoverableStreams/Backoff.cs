namespace RecoverableStreams;

/// <summary>Exponential back-off for retrying after Redis failures: 100 ms doubling, capped.</summary>
internal static class Backoff
{
    public static TimeSpan For(int failures, TimeSpan cap)
    {
        var exponent = Math.Min(failures - 1, 10);
        var delay = TimeSpan.FromMilliseconds(100 * Math.Pow(2, Math.Max(0, exponent)));
        var limit = cap > TimeSpan.FromSeconds(5) ? cap : TimeSpan.FromSeconds(5);
        return delay < limit ? delay : limit;
    }
}
