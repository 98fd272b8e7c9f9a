using Microsoft.Extensions.Logging;

namespace RecoverableStreams.Diagnostics;

// The log events of live rebalancing (docs/ARCHITECTURE.md, "Partitions and rebalancing").
internal static partial class Log
{
    [LoggerMessage(320, LogLevel.Information, "Handing {Count} stream(s) over to less loaded consumers: this consumer owns {Owned}, its fair share is {Target}.", EventName = "StreamsHandedOver")]
    public static partial void StreamsHandedOver(ILogger logger, int count, int owned, int target);

    [LoggerMessage(420, LogLevel.Warning, "Rebalancing failed; the next round tries again.", EventName = "RebalanceFailed")]
    public static partial void RebalanceFailed(ILogger logger, Exception exception);

    [LoggerMessage(421, LogLevel.Warning, "Releasing {Count} handed-over stream(s) failed; retrying while the session lives.", EventName = "HandOverReleaseFailed")]
    public static partial void HandOverReleaseFailed(ILogger logger, int count, Exception exception);
}
