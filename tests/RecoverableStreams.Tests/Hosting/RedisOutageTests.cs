using RecoverableStreams.Hosting;
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
    [TestCase("MOVEDX not a redirection")]
    [TestCase("NOPERMS not a code")]
    // Script errors that are the script's or the data's fault, in Redis 6.2's wrapper and in Redis 7's form.
    [TestCase("ERR Error running script (call to f_4c2e1c0f8c5b6b0c1a1d7a0e9a1f2b3c4d5e6f70): @user_script:5: @user_script: 5: -WRONGTYPE Operation against a key holding the wrong kind of value ")]
    [TestCase("ERR Error running script (call to f_4c2e1c0f8c5b6b0c1a1d7a0e9a1f2b3c4d5e6f70): @user_script:3: user_script:3: Script attempted to access nonexistent global variable 'foo' ")]
    [TestCase("ERR Error running script (call to f_4c2e1c0f8c5b6b0c1a1d7a0e9a1f2b3c4d5e6f70): @user_script:9: too many results to unpack ")]
    [TestCase("WRONGTYPE Operation against a key holding the wrong kind of value script: 4c2e1c0f8c5b6b0c1a1d7a0e9a1f2b3c4d5e6f70, on @user_script:5.")]
    [TestCase("ERR user_script:9: too many results to unpack script: 4c2e1c0f8c5b6b0c1a1d7a0e9a1f2b3c4d5e6f70, on @user_script:9.")]
    public void An_error_reply_about_the_command_or_the_data_is_not_an_outage(string message) =>
        Assert.That(RedisOutage.IsOutage(new RedisServerException(message)), Is.False);

    /// <summary>
    /// Refusals an operator must fix, each as Redis sends it: top level, inside a script on Redis 7.0 (the code kept
    /// first, the script's location appended; an ACL refusal without a code), on Redis 7.2+ ("ACL failure in script"),
    /// and wrapped by Redis 6.2 (<c>ERR Error running script (call to f_...): @user_script:N: @user_script: N: -CODE ...</c>,
    /// the form of real Redis 6.2 reports). The 7.0 strings were read from redis-server 7.0.15; the others from the
    /// sources of server.c, scripting.c (6.2) and script.c (7.2).
    /// </summary>
    [TestCase("OOM command not allowed when used memory > 'maxmemory'.", nameof(RedisOutageKind.OutOfMemory))]
    [TestCase("OOM command not allowed when used memory > 'maxmemory'. script: d223ed8c7345b684e8ed044ed472601f536fa58b, on @user_script:1.", nameof(RedisOutageKind.OutOfMemory))]
    [TestCase("ERR Error running script (call to f_8f55ae4a3be429c6d38c5d5db3e80edf89197b64): @user_script:41: @user_script: 41: -OOM command not allowed when used memory > 'maxmemory'. ", nameof(RedisOutageKind.OutOfMemory))]
    [TestCase("NOPERM this user has no permissions to run the 'xadd' command", nameof(RedisOutageKind.Permission))]
    [TestCase("NOPERM this user has no permissions to run the 'xadd' command or its subcommand", nameof(RedisOutageKind.Permission))]
    [TestCase("NOPERM this user has no permissions to access one of the keys used as arguments", nameof(RedisOutageKind.Permission))]
    [TestCase("NOPERM User app has no permissions to run the 'xadd' command", nameof(RedisOutageKind.Permission))]
    [TestCase("NOPERM No permissions to access a key", nameof(RedisOutageKind.Permission))]
    [TestCase("ERR The user executing the script can't run this command or subcommand script: ab7cfbed614eb4c468ab1efe8ee75d00e50f0454, on @user_script:1.", nameof(RedisOutageKind.Permission))]
    [TestCase("ERR The user executing the script can't access at least one of the keys mentioned in the command arguments script: a4669ceece8bc7b76eb378a2cfd97de3fdd2612a, on @user_script:1.", nameof(RedisOutageKind.Permission))]
    [TestCase("ERR ACL failure in script: User app has no permissions to run the 'xadd' command script: ab7cfbed614eb4c468ab1efe8ee75d00e50f0454, on @user_script:1.", nameof(RedisOutageKind.Permission))]
    [TestCase("ERR Error running script (call to f_ab7cfbed614eb4c468ab1efe8ee75d00e50f0454): @user_script:1: @user_script: 1: The user executing the script can't run this command or subcommand ", nameof(RedisOutageKind.Permission))]
    [TestCase("NOAUTH Authentication required.", nameof(RedisOutageKind.Authentication))]
    [TestCase("WRONGPASS invalid username-password pair or user is disabled.", nameof(RedisOutageKind.Authentication))]
    [TestCase("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.", nameof(RedisOutageKind.Persistence))]
    public void A_refusal_an_operator_must_fix_is_an_outage_of_its_kind(string message, string kindName)
    {
        var kind = Enum.Parse<RedisOutageKind>(kindName);
        var reply = new RedisServerException(message);
        Assert.Multiple(() =>
        {
            Assert.That(RedisOutage.Classify(reply), Is.EqualTo(kind), "the reply itself");
            Assert.That(RedisOutage.Classify(new RecoverableStreamsException("Redis failed: " + message, reply)), Is.EqualTo(kind), "wrapped by the library");
            Assert.That(RedisOutage.IsOutage(reply), Is.True);
            Assert.That(RedisOutage.RetryBound(kind, new RecoverableStreamsHostingOptions { MaxConfigurationOutageRetryDuration = TimeSpan.FromMinutes(7) }),
                Is.EqualTo(TimeSpan.FromMinutes(7)), "bounded by MaxConfigurationOutageRetryDuration");
            Assert.That(RedisOutage.WhatToFix(kind), Does.Not.StartWith("nothing"), "the log line says what to fix");
        });
    }

    /// <summary>Redis 6.2 hides the transient codes inside its script wrapper; Redis 7 keeps them first.</summary>
    [TestCase("ERR Error running script (call to f_2c3e4d5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d): @user_script:12: @user_script: 12: -READONLY You can't write against a read only replica. ")]
    [TestCase("ERR Error running script (call to f_2c3e4d5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d): @user_script:7: @user_script: 7: -CLUSTERDOWN The cluster is down ")]
    [TestCase("ERR Error running script (call to f_2c3e4d5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d): @user_script:7: @user_script: 7: -NOREPLICAS Not enough good replicas to write. ")]
    [TestCase("NOREPLICAS Not enough good replicas to write. script: 2c3e4d5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d, on @user_script:7.")]
    [TestCase("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")]
    public void A_transient_state_inside_a_script_reply_is_a_transient_outage(string message)
    {
        Assert.That(RedisOutage.Classify(new RedisServerException(message)), Is.EqualTo(RedisOutageKind.Transient));
        Assert.That(RedisOutage.RetryBound(RedisOutageKind.Transient, new RecoverableStreamsHostingOptions { MaxOutageRetryDuration = TimeSpan.FromSeconds(42) }),
            Is.EqualTo(TimeSpan.FromSeconds(42)), "bounded by MaxOutageRetryDuration");
    }

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
