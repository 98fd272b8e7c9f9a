namespace RecoverableStreams.Cli;

/// <summary>The options every command takes: where Redis is, how to log in, which service, how to print.</summary>
internal sealed record GlobalSettings(
    string? Redis,
    string? User,
    string? PasswordFile,
    bool AskPassword,
    bool Tls,
    string? TlsCa,
    string? Service,
    int? Partitions,
    int? Database,
    string? LbsKey,
    string? Group,
    TimeSpan? LeaseDuration,
    OutputFormat Output);

/// <summary>How results are printed.</summary>
internal enum OutputFormat
{
    /// <summary>Tables for people.</summary>
    Table,

    /// <summary>One JSON document for scripts.</summary>
    Json,
}
