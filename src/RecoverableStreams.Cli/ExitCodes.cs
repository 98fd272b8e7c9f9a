namespace RecoverableStreams.Cli;

/// <summary>Exit codes: a contract for scripts that call the tool (documented in the package README and docs/OPERATIONS.md).</summary>
internal static class ExitCodes
{
    /// <summary>Done.</summary>
    public const int Ok = 0;

    /// <summary>Done, but nothing matched: the stream had no owner, or a dead letter did not exist.</summary>
    public const int NotFound = 1;

    /// <summary>The command line is wrong (or a password was put on it); the message says what to type.</summary>
    public const int Usage = 2;

    /// <summary>Redis could not be reached, the TLS handshake failed, or the user and password were refused.</summary>
    public const int Connection = 3;

    /// <summary>Nothing was changed: the operator declined (or gave no <c>--yes</c> without a terminal), or Redis refused the command (an ACL without the permission).</summary>
    public const int Refused = 4;

    /// <summary>Redis failed during the command (a timeout, a lost connection).</summary>
    public const int RedisError = 5;
}
