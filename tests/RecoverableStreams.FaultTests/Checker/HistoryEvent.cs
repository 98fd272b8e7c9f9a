using System.Text.Json.Serialization;

namespace RecoverableStreams.FaultTests.Checker;

/// <summary>What an event in the history is about: a consumer's operation on a stream, or the nemesis's fault.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<HistoryOp>))]
internal enum HistoryOp
{
    /// <summary>The producer announced a stream (harness).</summary>
    Announce,

    /// <summary>A handler started on a granted lease and saw <c>IsOwned</c> true (an ownership observation).</summary>
    Own,

    /// <summary><c>StreamLease.CheckpointAsync</c> (a write).</summary>
    Checkpoint,

    /// <summary><c>StreamLease.CompleteAsync</c> (a write that ends the stream).</summary>
    Complete,

    /// <summary><c>StreamLease.ReleaseAsync</c> (a write that hands the stream back).</summary>
    Release,

    /// <summary><c>StreamLease.DeadLetterAsync</c> (a write that ends the stream).</summary>
    DeadLetter,

    /// <summary>The handler learnt that ownership ended (<c>OwnershipLost</c> fired or <c>IsOwned</c> was false).</summary>
    Lost,

    /// <summary>Nemesis: SIGKILL of a consumer process (its open operations become unknown).</summary>
    Crash,

    /// <summary>Nemesis: SIGSTOP of a consumer process.</summary>
    Freeze,

    /// <summary>Nemesis: SIGCONT of a frozen consumer process.</summary>
    Thaw,

    /// <summary>Nemesis: the consumer's TCP proxy black-holes its traffic.</summary>
    Partition,

    /// <summary>Nemesis: the partition ends.</summary>
    Heal,

    /// <summary>Nemesis: redis-server killed and started again with its AOF.</summary>
    RestartRedis,

    /// <summary>
    /// Nemesis: a Sentinel failover (<c>FailoverKind</c>: planned, or the primary killed). Its <c>Ok</c> event's detail is the
    /// <c>PrimaryMove</c>: the primary's address before and after, as the sentinels named it.
    /// </summary>
    Failover,

    /// <summary>Nemesis: a consumer process started (a new incarnation).</summary>
    Join,

    /// <summary>Nemesis: a consumer process stopped gracefully (SIGTERM).</summary>
    Leave,
}

/// <summary>Jepsen's operation phases: an operation is invoked, then completes ok, fails (certainly no effect) or is unknown.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<HistoryPhase>))]
internal enum HistoryPhase
{
    Invoke,
    Ok,
    Fail,
    Unknown,

    /// <summary>A single-point event (an observation or a fault), not an operation.</summary>
    Info,
}

/// <summary>
/// One line of the history. <see cref="Time"/> is <c>Stopwatch.GetTimestamp()</c> in nanoseconds: CLOCK_MONOTONIC on
/// Linux, one clock for every process on the machine, so events of different processes are ordered by it.
/// <see cref="Process"/> names one incarnation of a consumer (<c>w2.3</c>: worker 2, third start) or <c>nemesis</c>.
/// <see cref="Id"/> pairs an operation's invoke with its completion inside one process.
/// </summary>
internal sealed record HistoryEvent(
    long Time,
    string Process,
    long Id,
    HistoryOp Op,
    HistoryPhase Phase,
    string? Stream = null,
    long Token = 0,
    string? Detail = null)
{
    public override string ToString() =>
        $"{Time / 1_000_000.0,12:F3} ms  {Process,-8} #{Id,-5} {Op,-10} {Phase,-7} {Stream} {(Token == 0 ? "" : "token " + Token)} {Detail}".TrimEnd();
}
