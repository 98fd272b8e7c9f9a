using Microsoft.Extensions.Logging;

namespace RecoverableStreams.Diagnostics;

/// <summary>The log messages of the data-stream watcher (Checkpoints/DataStreamWatcher.cs).</summary>
internal static partial class Log
{
    [LoggerMessage(410, LogLevel.Warning, "Subscribing to {Channel} failed; readers waiting in ReadEntriesAsync are woken by a batched poll every {PollInterval} instead.", EventName = "DataStreamSubscribeFailed")]
    public static partial void DataStreamSubscribeFailed(ILogger logger, string channel, TimeSpan pollInterval, Exception exception);

    [LoggerMessage(411, LogLevel.Warning, "The safety poll of waiting data-stream readers failed; it runs again at its next interval.", EventName = "DataSafetyPollFailed")]
    public static partial void DataSafetyPollFailed(ILogger logger, Exception exception);

    [LoggerMessage(422, LogLevel.Warning, "Delivery of xadd events to this client is not proven ({Reason}); the streams handlers wait on are polled every {PollInterval}, at most {Budget} streams per second, until a canary comes back.", EventName = "DataDeliveryUnproven")]
    public static partial void DeliveryUnproven(ILogger logger, string reason, TimeSpan pollInterval, int budget);

    [LoggerMessage(423, LogLevel.Information, "Delivery of xadd events to this client is proven by its canaries; one safety pass covers what may have been missed before, then waiting streams are not polled.", EventName = "DataDeliveryProven")]
    public static partial void DeliveryProven(ILogger logger);
}
