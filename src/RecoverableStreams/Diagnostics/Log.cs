using Microsoft.Extensions.Logging;

namespace RecoverableStreams.Diagnostics;

/// <summary>
/// Every log message of the core. Event ids are a contract: 1xx lifecycle, 2xx processing, 3xx recovery,
/// 4xx connectivity.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(100, LogLevel.Information, "Consumer {ConsumerId} started on LBS '{LbsKey}' group '{Group}' (capacity {Capacity}, lease {LeaseDuration}).", EventName = "ClientStarted")]
    public static partial void ClientStarted(ILogger logger, string consumerId, string lbsKey, string group, int capacity, TimeSpan leaseDuration);

    [LoggerMessage(101, LogLevel.Information, "Consumer {ConsumerId} stopped; released {Released} unfinished stream(s).", EventName = "ClientStopped")]
    public static partial void ClientStopped(ILogger logger, string consumerId, int released);

    [LoggerMessage(102, LogLevel.Information, "notify-keyspace-events on {Server} changed from '{Current}' to '{Merged}'.", EventName = "KeyspaceFlagsMerged")]
    public static partial void KeyspaceFlagsMerged(ILogger logger, string server, string current, string merged);

    [LoggerMessage(103, LogLevel.Warning, "notify-keyspace-events on {Server} is '{Current}'; '{Wanted}' would give prompt wake-ups. Falling back to polling.", EventName = "KeyspaceFlagsMissing")]
    public static partial void KeyspaceFlagsMissing(ILogger logger, string server, string current, string wanted);

    [LoggerMessage(104, LogLevel.Warning, "Cannot read or set notify-keyspace-events on {Server} (managed Redis, no allowAdmin, or CONFIG renamed). Everything works; new entries from producers other than StreamPublisher are picked up every PollInterval.", EventName = "KeyspaceConfigUnavailable")]
    public static partial void KeyspaceConfigUnavailable(ILogger logger, string server, Exception exception);

    [LoggerMessage(105, LogLevel.Debug, "Unsubscribing failed.", EventName = "UnsubscribeFailed")]
    public static partial void UnsubscribeFailed(ILogger logger, Exception exception);

    [LoggerMessage(106, LogLevel.Warning, "Closing the session at shutdown failed; its {Count} stream(s) return to peers when the session's deadline passes.", EventName = "ShutdownReleaseFailed")]
    public static partial void ShutdownReleaseFailed(ILogger logger, int count, Exception exception);

    [LoggerMessage(200, LogLevel.Debug, "Owns '{DataStreamName}' ({IdInLbs}), {Origin}, fencing token {FencingToken}.", EventName = "StreamOwned")]
    public static partial void StreamOwned(ILogger logger, string dataStreamName, string idInLbs, LeaseOrigin origin, long fencingToken);

    [LoggerMessage(201, LogLevel.Debug, "Completed '{DataStreamName}' ({IdInLbs}).", EventName = "StreamCompleted")]
    public static partial void StreamCompleted(ILogger logger, string dataStreamName, string idInLbs);

    [LoggerMessage(202, LogLevel.Debug, "Released '{DataStreamName}' ({IdInLbs}) for a peer.", EventName = "StreamReleased")]
    public static partial void StreamReleased(ILogger logger, string dataStreamName, string idInLbs);

    [LoggerMessage(203, LogLevel.Warning, "Dead-lettered '{DataStreamName}' ({IdInLbs}): {Reason}", EventName = "StreamDeadLettered")]
    public static partial void StreamDeadLettered(ILogger logger, string dataStreamName, string idInLbs, string reason);

    [LoggerMessage(204, LogLevel.Warning, "LBS entry {IdInLbs} is malformed and goes to the dead-letter stream: {Reason}", EventName = "MalformedEntry")]
    public static partial void MalformedEntry(ILogger logger, string idInLbs, string reason);

    [LoggerMessage(205, LogLevel.Warning, "LBS entry {IdInLbs} could not be dead-lettered: its ownership record is gone; its next owner will.", EventName = "DeadLetterRefused")]
    public static partial void DeadLetterRefused(ILogger logger, string idInLbs);

    [LoggerMessage(217, LogLevel.Error, "Taking on LBS entry {IdInLbs} failed; its grant is given back and the rest of its batch is taken on.", EventName = "AcceptFailed")]
    public static partial void AcceptFailed(ILogger logger, string idInLbs, Exception exception);

    [LoggerMessage(206, LogLevel.Warning, "LBS entry {IdInLbs} announces '{DataStreamName}', which entry {LiveId} already announces and is live: dead-lettered as duplicate.", EventName = "DuplicateDeadLettered")]
    public static partial void DuplicateDeadLettered(ILogger logger, string idInLbs, string dataStreamName, string liveId);

    [LoggerMessage(207, LogLevel.Warning, "The completion of '{DataStreamName}' ({IdInLbs}) reached the primary, but no replica acknowledged it within {WaitMs} ms (a failover may be under way): sending it again until a replica has it or Redis refuses it.", EventName = "CompletionUnacknowledged")]
    public static partial void CompletionUnacknowledged(ILogger logger, string dataStreamName, string idInLbs, long waitMs);

    [LoggerMessage(208, LogLevel.Warning, "Redis refused ROLE or WAIT ({Error}): completions are done once the primary has them, and a failover can lose one (the stream is then processed again). Grant +role +wait (docs/SECURITY.md).", EventName = "ReplicaAcknowledgementRefused")]
    public static partial void ReplicaAcknowledgementRefused(ILogger logger, string error);

    /// <summary>
    /// A lease ended without the application asking: a warning, except a rebalancing hand-over, a planned move whose
    /// round is already reported (event 320): one warning per handed-over stream made a 1,000,000-stream benchmark log
    /// 92,257 warnings.
    /// </summary>
    [LoggerMessage(EventId = 300, EventName = "LeaseEnded", Message = "The lease of '{DataStreamName}' ({IdInLbs}) ended: {EndReason} ({Detail}).")]
    public static partial void LeaseEnded(ILogger logger, LogLevel level, string dataStreamName, string idInLbs, LeaseEndReason endReason, string detail);

    [LoggerMessage(301, LogLevel.Information, "Claimed {Count} expired or released stream(s); {Left} still waiting for an owner.", EventName = "StreamsClaimed")]
    public static partial void Claimed(ILogger logger, int count, long left);

    [LoggerMessage(302, LogLevel.Information, "Reconciled the pending list in {Pages} page(s); repaired {Repaired} orphaned entr(ies).", EventName = "Reconciled")]
    public static partial void Reconciled(ILogger logger, int pages, int repaired);

    [LoggerMessage(303, LogLevel.Warning, "Releasing '{DataStreamName}' ({IdInLbs}): no progress for longer than HandlerStallTimeout ({StallTimeout}).", EventName = "LeaseStalled")]
    public static partial void LeaseStalled(ILogger logger, string dataStreamName, string idInLbs, TimeSpan stallTimeout);

    [LoggerMessage(304, LogLevel.Information, "Opened session {SessionId} (deadline {DeadlineMs} on the Redis clock).", EventName = "SessionOpened")]
    public static partial void SessionOpened(ILogger logger, string sessionId, long deadlineMs);

    [LoggerMessage(305, LogLevel.Warning, "Session {SessionId} ended: {Reason}; its {Count} lease(s) ended.", EventName = "SessionEnded")]
    public static partial void SessionEnded(ILogger logger, string sessionId, string reason, int count);

    // Debug: the session's end is one warning (305) that counts them; a warning per lease would be 100,000 lines for a
    // consumer that owns 100,000 streams, written while the process most needs its CPU.
    [LoggerMessage(306, LogLevel.Debug, "The lease of '{DataStreamName}' ({IdInLbs}) ended with its session ({Detail}).", EventName = "LeaseEndedWithSession")]
    public static partial void LeaseEndedWithSession(ILogger logger, string dataStreamName, string idInLbs, string detail);

    [LoggerMessage(360, LogLevel.Warning, "Session {SessionId}: released {Count} stream(s) Redis had granted it but whose grant never reached this process (a lost reply).", EventName = "UnknownGrantsReleased")]
    public static partial void UnknownGrantsReleased(ILogger logger, string sessionId, int count);

    [LoggerMessage(361, LogLevel.Warning, "The lease of '{DataStreamName}' ({IdInLbs}) was force-released by an operator.", EventName = "LeaseForceReleased")]
    public static partial void LeaseForceReleased(ILogger logger, string dataStreamName, string idInLbs);

    [LoggerMessage(400, LogLevel.Warning, "Renewing the session ({Count} stream(s)) failed; retrying until its deadline.", EventName = "RenewalFailed")]
    public static partial void RenewalFailed(ILogger logger, int count, Exception exception);

    [LoggerMessage(401, LogLevel.Warning, "Reading the LBS failed; retrying.", EventName = "ReadFailed")]
    public static partial void ReadFailed(ILogger logger, Exception exception);

    [LoggerMessage(402, LogLevel.Warning, "Looking for expired leases failed; retrying.", EventName = "SweepFailed")]
    public static partial void SweepFailed(ILogger logger, Exception exception);

    [LoggerMessage(403, LogLevel.Warning, "Reconciling the pending list failed; the next interval tries again.", EventName = "ReconcileFailed")]
    public static partial void ReconcileFailed(ILogger logger, Exception exception);

    [LoggerMessage(404, LogLevel.Critical, "The LBS key '{LbsKey}' is not a stream; the client stops.", EventName = "LbsKeyWrongType")]
    public static partial void LbsKeyWrongType(ILogger logger, string lbsKey, Exception exception);

    [LoggerMessage(405, LogLevel.Information, "Connection to {EndPoint} restored; ensuring the group and notification flags again.", EventName = "ConnectionRestored")]
    public static partial void ConnectionRestored(ILogger logger, string endPoint);

    [LoggerMessage(406, LogLevel.Warning, "Ensuring the consumer group or notification flags after a reconnect failed.", EventName = "EnsureAfterReconnectFailed")]
    public static partial void EnsureAfterReconnectFailed(ILogger logger, Exception exception);
}
