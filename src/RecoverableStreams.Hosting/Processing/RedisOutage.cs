using StackExchange.Redis;

namespace RecoverableStreams.Hosting.Processing;

/// <summary>
/// Tells an outage of Redis from a failure of the stream: the one classifier the hosting layer uses. An outage
/// never spends one of the stream's delivery attempts (it would dead-letter healthy streams during a failover or a
/// memory or ACL incident); <see cref="RetryBound"/> says how long one worker retries through it, by kind.
/// </summary>
internal static class RedisOutage
{
    /// <summary>
    /// The error codes of transient server states: a cluster reconfiguring (CLUSTERDOWN, TRYAGAIN, MOVED and ASK
    /// left over from a redirection storm), a replica or a node that is not ready (READONLY after a failover, LOADING,
    /// MASTERDOWN, NOREPLICAS while too few replicas are connected), and a server blocked by a long script (BUSY).
    /// Matched on the whole first word: BUSYGROUP and BUSYKEY are errors about the data, not outages.
    /// </summary>
    private static readonly HashSet<string> TransientCodes = new(StringComparer.Ordinal)
    {
        "CLUSTERDOWN", "TRYAGAIN", "MOVED", "ASK", "READONLY", "LOADING", "MASTERDOWN", "NOREPLICAS", "BUSY",
    };

    /// <summary>The error codes of refusals that last until an operator changes the server's configuration.</summary>
    private static readonly Dictionary<string, RedisOutageKind> ConfigurationCodes = new(StringComparer.Ordinal)
    {
        ["OOM"] = RedisOutageKind.OutOfMemory,
        ["NOPERM"] = RedisOutageKind.Permission,
        ["NOAUTH"] = RedisOutageKind.Authentication,
        ["WRONGPASS"] = RedisOutageKind.Authentication,
        ["MISCONF"] = RedisOutageKind.Persistence,
    };

    /// <summary>
    /// The words an ACL refusal inside a script starts with (the script's reply carries no NOPERM code): Redis 6.2 and
    /// 7.0 say "The user executing the script can't run this command or subcommand" (or "can't access at least one of
    /// the keys ..."), Redis 7.2 and later "ACL failure in script: ...".
    /// </summary>
    private static readonly string[] ScriptAclRefusals = ["The user executing the script can't", "ACL failure in script"];

    /// <summary>Redis 6.2 wraps every error raised in a script: <c>ERR Error running script (call to f_&lt;sha&gt;): @user_script:12: @user_script: 12: -OOM ...</c>.</summary>
    private const string ScriptWrapper = "ERR Error running script";

    /// <summary>True when the failure, anywhere in its exception chain, is a Redis outage of any kind.</summary>
    public static bool IsOutage(Exception failure) => Classify(failure) is not null;

    /// <summary>
    /// The kind of Redis outage the failure is, anywhere in its exception chain: Redis unreachable, too slow or in a
    /// transient state (<see cref="RedisOutageKind.Transient"/>), or refusing for its configuration (memory, ACL,
    /// authentication, persistence); <see langword="null"/> when it is not an outage.
    /// </summary>
    public static RedisOutageKind? Classify(Exception failure)
    {
        for (Exception? e = failure; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case RedisConnectionException or RedisTimeoutException:
                    return RedisOutageKind.Transient;
                case RedisServerException server when ClassifyReply(server.Message) is { } kind:
                    return kind;
            }
        }

        return null;
    }

    /// <summary>
    /// How long one worker retries a stream through an outage of this kind before it hands the stream over (never
    /// dead-letters it): <see cref="RecoverableStreamsHostingOptions.MaxOutageRetryDuration"/> for a transient state,
    /// <see cref="RecoverableStreamsHostingOptions.MaxConfigurationOutageRetryDuration"/> for a refusal an operator must fix.
    /// </summary>
    public static TimeSpan RetryBound(RedisOutageKind kind, RecoverableStreamsHostingOptions options) =>
        kind == RedisOutageKind.Transient ? options.MaxOutageRetryDuration : options.MaxConfigurationOutageRetryDuration;

    /// <summary>What an operator should do about an outage of this kind: the second half of the log line.</summary>
    public static string WhatToFix(RedisOutageKind kind) => kind switch
    {
        RedisOutageKind.OutOfMemory =>
            "Redis refused for lack of memory: raise maxmemory, free memory (expire or trim data, lower DeadLetterMaxLength), or use an eviction policy that cannot evict this service's keys (volatile-*); see docs/OPERATIONS.md",
        RedisOutageKind.Permission =>
            "the ACL user lacks a command, key or channel this worker uses: grant what docs/SECURITY.md lists (ACL LOG on the server names the refused command)",
        RedisOutageKind.Authentication =>
            "the connection is not authenticated: check the user and password of the Redis connection string against the server's ACL (docs/SECURITY.md)",
        RedisOutageKind.Persistence =>
            "Redis refuses writes because its last background save failed (MISCONF): fix the disk or the persistence settings of the Redis host (its log says why)",
        _ => "nothing, if it passes (a failover, a restart, a cluster reconfiguring or a lost connection); if it lasts, check the Redis endpoint and its health",
    };

    /// <summary>The outage kind of one error reply, or <see langword="null"/>; script-wrapped replies are unwrapped first.</summary>
    internal static RedisOutageKind? ClassifyReply(string message)
    {
        var reply = Unwrap(message);
        var end = reply.IndexOf(' ', StringComparison.Ordinal);
        var code = end < 0 ? reply : reply[..end];
        if (TransientCodes.Contains(code))
        {
            return RedisOutageKind.Transient;
        }

        if (ConfigurationCodes.TryGetValue(code, out var kind))
        {
            return kind;
        }

        var text = code == "ERR" && end >= 0 ? reply[(end + 1)..] : reply;
        foreach (var refusal in ScriptAclRefusals)
        {
            if (text.StartsWith(refusal, StringComparison.Ordinal))
            {
                return RedisOutageKind.Permission;
            }
        }

        return null;
    }

    /// <summary>
    /// The error inside Redis 6.2's script wrapper (<c>ERR Error running script (call to f_...): </c>, then one or two
    /// source locations such as <c>@user_script:12: @user_script: 12: </c>, then the inner reply, with its leading
    /// <c>-</c> when Redis refused the command itself); any other message as it is. Redis 7 keeps the inner code first
    /// and appends <c> script: ..., on @user_script:12.</c>, which needs no unwrapping.
    /// </summary>
    private static string Unwrap(string message)
    {
        if (!message.StartsWith(ScriptWrapper, StringComparison.Ordinal))
        {
            return message;
        }

        var start = message.IndexOf("): ", ScriptWrapper.Length, StringComparison.Ordinal);
        if (start < 0)
        {
            return message;
        }

        var inner = message[(start + 3)..];
        while (SkipLocation(inner) is { } rest)
        {
            inner = rest;
        }

        return inner.TrimStart('-').Trim();
    }

    /// <summary>The text after a leading source location (<c>@user_script:12: </c> or <c>@user_script: 12: </c>), or <see langword="null"/>.</summary>
    private static string? SkipLocation(string text)
    {
        var at = text.StartsWith('@') ? 1 : 0;
        var colon = text.IndexOf(':', at);
        if (colon <= at || text.AsSpan(at, colon - at).ContainsAny(' ', '(', '-'))
        {
            return null;
        }

        var i = colon + 1;
        if (i < text.Length && text[i] == ' ')
        {
            i++;
        }

        var digits = i;
        while (i < text.Length && char.IsAsciiDigit(text[i]))
        {
            i++;
        }

        if (i == digits || i + 1 >= text.Length || text[i] != ':' || text[i + 1] != ' ')
        {
            return null;
        }

        return text[(i + 2)..];
    }
}
