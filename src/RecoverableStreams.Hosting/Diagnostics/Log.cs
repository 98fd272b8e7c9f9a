using Microsoft.Extensions.Logging;
using RecoverableStreams.Hosting.Processing;

namespace RecoverableStreams.Hosting.Diagnostics;

/// <summary>
/// Every log message of the hosting layer. Event ids are a contract: 15x lifecycle, 25x processing, 35x recovery,
/// 45x connectivity (the core uses 10x, 20x, 30x-32x and 40x-42x; LogEventIdTests keeps ids unique across assemblies).
/// </summary>
internal static partial class Log
{
    [LoggerMessage(150, LogLevel.Information, "Stream worker started as consumer {ConsumerId} with {Handlers} handler(s).", EventName = "WorkerStarted")]
    public static partial void WorkerStarted(ILogger logger, string consumerId, int handlers);

    [LoggerMessage(151, LogLevel.Information, "Stopping: no new work; cancelling {Running} running handler(s) and waiting up to the host's shutdown timeout.", EventName = "WorkerStopping")]
    public static partial void WorkerStopping(ILogger logger, int running);

    [LoggerMessage(152, LogLevel.Information, "Stream worker stopped; unfinished streams were released for peers.", EventName = "WorkerStopped")]
    public static partial void WorkerStopped(ILogger logger);

    [LoggerMessage(153, LogLevel.Error, "The stream client terminated ({Reason}); starting a new one in {Delay}.", EventName = "ClientTerminated")]
    public static partial void ClientTerminated(ILogger logger, string reason, TimeSpan delay);

    [LoggerMessage(154, LogLevel.Error, "Starting the stream client failed; retrying in {Delay}.", EventName = "StartFailed")]
    public static partial void StartFailed(ILogger logger, TimeSpan delay, Exception exception);

    [LoggerMessage(155, LogLevel.Warning, "{Running} handler(s) did not finish within the shutdown timeout; their streams are handed over now.", EventName = "ShutdownTimedOut")]
    public static partial void ShutdownTimedOut(ILogger logger, int running);

    [LoggerMessage(156, LogLevel.Warning, "Stopping the stream client failed.", EventName = "StopFailed")]
    public static partial void StopFailed(ILogger logger, Exception exception);

    [LoggerMessage(250, LogLevel.Debug, "Handling '{DataStreamName}' ({IdInLbs}) with {Handler}: attempt {Attempt}, {Origin}, fencing token {FencingToken}.", EventName = "HandlerStarting")]
    public static partial void HandlerStarting(ILogger logger, string dataStreamName, string idInLbs, string handler, int attempt, LeaseOrigin origin, long fencingToken);

    [LoggerMessage(251, LogLevel.Debug, "Completed '{DataStreamName}' ({IdInLbs}).", EventName = "StreamCompleted")]
    public static partial void StreamCompleted(ILogger logger, string dataStreamName, string idInLbs);

    [LoggerMessage(252, LogLevel.Warning, "Handler failed on '{DataStreamName}' ({IdInLbs}), failed attempt {Attempts} of {MaxAttempts}.", EventName = "HandlerFailed")]
    public static partial void HandlerFailed(ILogger logger, string dataStreamName, string idInLbs, long attempts, int maxAttempts, Exception exception);

    /// <summary>Logs a handler failure that is a Redis outage (event 258), with its kind and what to fix.</summary>
    public static void HandlerFailedOnRedis(ILogger logger, string dataStreamName, string idInLbs, Exception exception)
    {
        var kind = RedisOutage.Classify(exception) ?? RedisOutageKind.Transient;
        HandlerFailedOnRedis(logger, dataStreamName, idInLbs, kind, RedisOutage.WhatToFix(kind), exception);
    }

    [LoggerMessage(258, LogLevel.Warning, "Handler failed on '{DataStreamName}' ({IdInLbs}) because of a Redis outage ({OutageKind}); not counted as a failed attempt, retried after a back-off. To fix: {WhatToFix}.", EventName = "HandlerFailedOnRedis")]
    private static partial void HandlerFailedOnRedis(ILogger logger, string dataStreamName, string idInLbs, RedisOutageKind outageKind, string whatToFix, Exception exception);

    [LoggerMessage(253, LogLevel.Warning, "Lifecycle observer {Observer} threw on {Event}; ignored.", EventName = "ObserverFailed")]
    public static partial void ObserverFailed(ILogger logger, string observer, string @event, Exception exception);

    [LoggerMessage(254, LogLevel.Error, "No handler matches '{DataStreamName}' ({IdInLbs}) here nor on any live consumer; it goes to the dead-letter stream as unroutable.", EventName = "NoHandler")]
    public static partial void NoHandler(ILogger logger, string dataStreamName, string idInLbs);

    [LoggerMessage(255, LogLevel.Error, "Dead-lettered '{DataStreamName}' ({IdInLbs}): {Reason}", EventName = "StreamDeadLettered")]
    public static partial void StreamDeadLettered(ILogger logger, string dataStreamName, string idInLbs, string reason);

    [LoggerMessage(256, LogLevel.Warning, "{Operation} of '{DataStreamName}' ({IdInLbs}) failed; retrying while the lease is held.", EventName = "FinishFailed")]
    public static partial void FinishFailed(ILogger logger, string operation, string dataStreamName, string idInLbs, Exception exception);

    [LoggerMessage(257, LogLevel.Error, "Unexpected error in the run of '{DataStreamName}' ({IdInLbs}); it ends as a failed attempt (counted, retried, then dead-lettered).", EventName = "RunFailed")]
    public static partial void RunFailed(ILogger logger, string dataStreamName, string idInLbs, Exception exception);

    [LoggerMessage(259, LogLevel.Warning, "The previous run of '{DataStreamName}' ({IdInLbs}) on this worker still runs after {Waited} (its handler ignores cancellation); starting the new one anyway: the old lease is fenced, its writes are refused.", EventName = "PreviousRunStillRunning")]
    public static partial void PreviousRunStillRunning(ILogger logger, string dataStreamName, string idInLbs, TimeSpan waited);

    [LoggerMessage(350, LogLevel.Information, "Lost '{DataStreamName}' ({IdInLbs}) while handling it; the handler was cancelled and the stream is not completed.", EventName = "LostWhileHandling")]
    public static partial void LostWhileHandling(ILogger logger, string dataStreamName, string idInLbs);

    [LoggerMessage(351, LogLevel.Information, "Released '{DataStreamName}' ({IdInLbs}) for a retry after a back-off of {Delay}.", EventName = "ReleasedForRetry")]
    public static partial void ReleasedForRetry(ILogger logger, string dataStreamName, string idInLbs, TimeSpan delay);

    [LoggerMessage(352, LogLevel.Information, "Released '{DataStreamName}' ({IdInLbs}) because the host is stopping.", EventName = "ReleasedAtShutdown")]
    public static partial void ReleasedAtShutdown(ILogger logger, string dataStreamName, string idInLbs);

    [LoggerMessage(354, LogLevel.Information, "Handed '{DataStreamName}' ({IdInLbs}) over to other consumers: {Reason}.", EventName = "HandedOver")]
    public static partial void HandedOver(ILogger logger, string dataStreamName, string idInLbs, string reason);

    [LoggerMessage(355, LogLevel.Warning, "The handler of '{DataStreamName}' ({IdInLbs}) kept failing on a Redis outage ({OutageKind}; {Tries} tries, longer than its bound {Limit}: MaxOutageRetryDuration, or MaxConfigurationOutageRetryDuration for a refusal to fix); releasing it for another consumer.", EventName = "OutageRetriesExhausted")]
    public static partial void OutageRetriesExhausted(ILogger logger, string dataStreamName, string idInLbs, int tries, RedisOutageKind outageKind, TimeSpan limit);

    [LoggerMessage(450, LogLevel.Information, "Connecting to Redis at {Configuration}.", EventName = "Connecting")]
    public static partial void Connecting(ILogger logger, string configuration);

    [LoggerMessage(452, LogLevel.Warning, "Could not read the live consumers' routes for '{DataStreamName}' ({IdInLbs}); handing it over instead of dead-lettering it.", EventName = "RoutesUnavailable")]
    public static partial void RoutesUnavailable(ILogger logger, string dataStreamName, string idInLbs, Exception exception);

    [LoggerMessage(453, LogLevel.Warning, "Advertising this worker's routes failed; retrying at the next refresh.", EventName = "RoutesAdvertiseFailed")]
    public static partial void RoutesAdvertiseFailed(ILogger logger, Exception exception);

    [LoggerMessage(451, LogLevel.Information, "Using the IConnectionMultiplexer registered in the service provider.", EventName = "UsingRegisteredConnection")]
    public static partial void UsingRegisteredConnection(ILogger logger);

    [LoggerMessage(157, LogLevel.Warning, "{Service}: configuration key(s) {Keys} match no option and are ignored (a typo, or a setting of a newer version). Set UnknownConfigurationKeys to Error to stop the host instead.", EventName = "UnknownConfigurationKeys")]
    public static partial void UnknownConfigurationKeys(ILogger logger, string service, string keys);
}
