using System.Diagnostics;

namespace RecoverableStreams.IntegrationTests.Infrastructure;

/// <summary>Waiting by condition with a deadline: never a fixed sleep standing in for synchronisation.</summary>
public static class Eventually
{
    public static async Task<bool> TrueAsync(Func<bool> condition, TimeSpan timeout) =>
        await TrueAsync(() => Task.FromResult(condition()), timeout);

    public static async Task<bool> TrueAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (await condition())
            {
                return true;
            }

            if (clock.Elapsed > timeout)
            {
                return false;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20));
        }
    }

    /// <summary>Asserts the condition becomes true within the timeout, with a message saying what did not happen.</summary>
    public static async Task AssertAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        Assert.That(await TrueAsync(condition, timeout), Is.True, $"Within {timeout.TotalSeconds:0.#} s: {what}");
    }

    public static Task AssertAsync(Func<bool> condition, TimeSpan timeout, string what) =>
        AssertAsync(() => Task.FromResult(condition()), timeout, what);
}
