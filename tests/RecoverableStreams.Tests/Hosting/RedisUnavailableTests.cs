using RecoverableStreams.Hosting.Processing;
using StackExchange.Redis;

// The tests build StackExchange.Redis exceptions the way the library does in a failure; their simplest constructors are obsolete.
#pragma warning disable CS0618

namespace RecoverableStreams.Tests.Hosting;

public sealed class RedisUnavailableTests
{
    [Test]
    public void A_connection_failure_anywhere_in_the_chain_is_redis_unavailable_and_not_a_failed_attempt()
    {
        var connection = new RedisConnectionException(ConnectionFailureType.SocketFailure, "socket closed");
        Assert.Multiple(() =>
        {
            Assert.That(RedisOutage.IsOutage(connection), Is.True);
            Assert.That(RedisOutage.IsOutage(new RecoverableStreamsException("Redis failed", connection)), Is.True);
            Assert.That(RedisOutage.IsOutage(new InvalidOperationException("outer", new RedisTimeoutException("timeout", CommandStatus.Sent))), Is.True);
        });
    }

    [Test]
    public void A_handler_bug_or_a_redis_error_reply_counts_as_a_failed_attempt()
    {
        Assert.Multiple(() =>
        {
            Assert.That(RedisOutage.IsOutage(new InvalidOperationException("bug")), Is.False);
            Assert.That(RedisOutage.IsOutage(new RedisServerException("WRONGTYPE Operation against a key holding the wrong kind of value")), Is.False);
        });
    }
}
