using System.Diagnostics;

namespace RecoverableStreams.Benchmarks.Infrastructure;

/// <summary>Waits for a condition with a deadline; a benchmark that cannot reach its state fails loudly.</summary>
internal static class Wait
{
    public static async Task UntilAsync(Func<bool> condition, TimeSpan timeout, string what, int pollMs = 5)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > timeout)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds:F0} s waiting for {what}.");
            }

            await Task.Delay(pollMs);
        }
    }
}
