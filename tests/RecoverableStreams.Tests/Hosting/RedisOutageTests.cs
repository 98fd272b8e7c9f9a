using RecoverableStreams.Hosting.Processing;
using StackExchange.Redis;

// The tests build StackExchange.Redis exceptions the way the library does in a failure; their simplest constructors are obsolete.
#pragma warning disable CS0618

namespace RecoverableStreams.Tests.Hosting;

/// <summary>
/// The one classifier that tells an outage (Redis unreachable, too slow, or in a transient state) from a failure of
/// the stream. The server messages are the ones Redis 7 sends (server.c, cluster.c, replication.c, script.c).
/// </summary>
public sealed class RedisOutageTests
{
    [TestCase("CLUSTERDOWN The cluster is down")]
    [TestCase("CLUSTERDOWN Hash slot not served")]
    [TestCase("CLUSTERDOWN The cluster is down and only accepts read commands")]
    [TestCase("TRYAGAIN Multiple keys request during rehashing of slot")]
    [TestCase("MOVED 3999 127.0.0.1:6381")]
    [TestCase("ASK 3999 127.0.0.1:6381")]
    [TestCase("READONLY You can't write against a read only replica.")]
    [TestCase("READONLY You can't write against a read only replica. script: 8f3b1c, on @user_script:12.")]
    [TestCase("LOADING Redis is loading the dataset in memory")]
    [TestCase("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.")]
    [TestCase("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT.")]
    [TestCase("BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.")]
    public void A_transient_server_state_is_an_outage(string message)
    {
        var reply = new RedisServerException(message);
        Assert.Multiple(() =>
        {
            Assert.That(RedisOutage.IsOutage(reply), Is.True, "the reply itself");
            Assert.That(RedisOutage.IsOutage(new RecoverableStreamsException("Redis failed: " + message, reply)), Is.True, "wrapped by the library");
            Assert.That(RedisOutage.IsOutage(new AggregateException(new InvalidOperationException("handler", reply))), Is.True, "deep in the chain");
        });
    }

    [TestCase("BUSYGROUP Consumer Group name already exists")]
    [TestCase("BUSYKEY Target key name already exists.")]
    [TestCase("WRONGTYPE Operation against a key holding the wrong kind of value")]
    [TestCase("NOSCRIPT No matching script. Please use EVAL.")]
    [TestCase("ERR value is not an integer or out of range")]
    [TestCase("NOPERM this user has no permissions to run the 'xadd' command")]
    [TestCase("OOM command not allowed when used memory > 'maxmemory'.")]
    [TestCase("MOVEDX not a redirection")]
    public void An_error_reply_about_the_command_or_the_data_is_not_an_outage(string message) =>
        Assert.That(RedisOutage.IsOutage(new RedisServerException(message)), Is.False);

    [Test]
    public void A_connection_failure_or_a_timeout_is_an_outage_and_a_handler_bug_is_not()
    {
        Assert.Multiple(() =>
        {
            Assert.That(RedisOutage.IsOutage(new RedisConnectionException(ConnectionFailureType.SocketFailure, "socket closed")), Is.True);
            Assert.That(RedisOutage.IsOutage(new InvalidOperationException("outer", new RedisTimeoutException("timeout", CommandStatus.Sent))), Is.True);
            Assert.That(RedisOutage.IsOutage(new InvalidOperationException("bug")), Is.False);
            Assert.That(RedisOutage.IsOutage(new RedisException("protocol error")), Is.False);
        });
    }
}
