using Microsoft.Extensions.Logging;

namespace RecoverableStreams.Dashboard;

/// <summary>The dashboard's log events; ids 48x (connectivity), unique across the RecoverableStreams assemblies.</summary>
internal static partial class Log
{
    [LoggerMessage(480, LogLevel.Warning, "The RecoverableStreams dashboard could not read service {Service}; it answered 503.", EventName = "DashboardReadFailed")]
    public static partial void ReadFailed(ILogger logger, string service, Exception exception);
}
