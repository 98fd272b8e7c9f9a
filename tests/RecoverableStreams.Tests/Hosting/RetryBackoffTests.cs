using RecoverableStreams.Hosting;
using RecoverableStreams.Hosting.Processing;

namespace RecoverableStreams.Tests.Hosting;

public sealed class RetryBackoffTests
{
    private static readonly HandlerRetryOptions NoJitter = new() { InitialDelay = TimeSpan.FromMilliseconds(100), MaxDelay = TimeSpan.FromSeconds(1), Jitter = 0 };

    [TestCase(1, 100)]
    [TestCase(2, 200)]
    [TestCase(3, 400)]
    [TestCase(4, 800)]
    [TestCase(5, 1000)]
    [TestCase(60, 1000)]
    public void Without_jitter_the_pause_doubles_per_failed_attempt_up_to_the_maximum(long failedAttempts, int expectedMs) =>
        Assert.That(RetryBackoff.For(failedAttempts, NoJitter, stallTimeout: null, random: 0.9), Is.EqualTo(TimeSpan.FromMilliseconds(expectedMs)));

    [Test]
    public void Jitter_spreads_the_pause_around_its_exponential_value_within_the_fraction()
    {
        var retry = new HandlerRetryOptions { InitialDelay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(10), Jitter = 0.5 };
        Assert.That(RetryBackoff.For(1, retry, null, random: 0), Is.EqualTo(TimeSpan.FromMilliseconds(500)));
        Assert.That(RetryBackoff.For(1, retry, null, random: 0.5), Is.EqualTo(TimeSpan.FromSeconds(1)));
        Assert.That(RetryBackoff.For(1, retry, null, random: 0.999), Is.EqualTo(TimeSpan.FromMilliseconds(1499)).Within(TimeSpan.FromMilliseconds(1)));
    }

    [Test]
    public void Jitter_never_takes_the_pause_past_the_maximum()
    {
        var retry = new HandlerRetryOptions { InitialDelay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(2), Jitter = 1 };
        Assert.That(RetryBackoff.For(5, retry, null, random: 0.999), Is.EqualTo(TimeSpan.FromSeconds(2)));
    }

    [Test]
    public void The_pause_is_at_most_half_the_handler_stall_timeout() =>
        Assert.That(RetryBackoff.For(4, NoJitter, stallTimeout: TimeSpan.FromMilliseconds(300), random: 0.5), Is.EqualTo(TimeSpan.FromMilliseconds(150)));

    [Test]
    public void The_defaults_keep_the_original_back_off()
    {
        var defaults = new HandlerRetryOptions { Jitter = 0 };
        Assert.That(
            new[] { 1L, 2, 3, 4, 5 }.Select(n => RetryBackoff.For(n, defaults, null, 0.5).TotalMilliseconds),
            Is.EqualTo(new[] { 500.0, 1000, 2000, 4000, 5000 }));
    }
}
