using System.Diagnostics;
using System.Globalization;

namespace RecoverableStreams.Diagnostics;

/// <summary>
/// The producer side of tracing: a <c>send</c> span per announcement, and the W3C trace context written into the
/// entry's <c>Info</c> (keys <see cref="CoreDiagnostics.TraceParentInfoKey"/> and
/// <see cref="CoreDiagnostics.TraceStateInfoKey"/>), so the consumer's span continues the producer's trace. Inside
/// <c>Info</c> because the Go wire format has only <c>DataStreamName</c> and <c>Info</c>: Go producers, which write
/// no trace context, are unaffected and their streams start a root span.
/// </summary>
internal static class PublishTracing
{
    public static readonly ActivitySource Source = new(CoreDiagnostics.ActivitySourceName, typeof(PublishTracing).Assembly.GetName().Version?.ToString());

    public static Activity? StartSend(string lbs, string dataStreamName)
    {
        var activity = Source.StartActivity("send " + lbs, ActivityKind.Producer);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("messaging.system", "redis");
            activity.SetTag("messaging.operation.type", "send");
            activity.SetTag("messaging.operation.name", "send");
            activity.SetTag("messaging.destination.name", lbs);
            activity.SetTag("recoverable_streams.data_stream", dataStreamName);
        }

        return activity;
    }

    /// <summary>
    /// The info to write: the caller's, plus the trace context of <paramref name="activity"/> when there is one and the
    /// caller did not set <c>traceparent</c> itself. The caller's dictionary is never changed.
    /// </summary>
    public static IDictionary<string, object?>? Inject(IDictionary<string, object?>? info, Activity? activity)
    {
        if (activity is null || activity.IdFormat != ActivityIdFormat.W3C || (info?.ContainsKey(CoreDiagnostics.TraceParentInfoKey) ?? false))
        {
            return info;
        }

        var withContext = info is null ? new Dictionary<string, object?>(StringComparer.Ordinal) : new Dictionary<string, object?>(info, StringComparer.Ordinal);
        withContext[CoreDiagnostics.TraceParentInfoKey] = string.Create(
            CultureInfo.InvariantCulture,
            $"00-{activity.TraceId.ToHexString()}-{activity.SpanId.ToHexString()}-{(activity.Recorded ? "01" : "00")}");
        if (!string.IsNullOrEmpty(activity.TraceStateString))
        {
            withContext[CoreDiagnostics.TraceStateInfoKey] = activity.TraceStateString;
        }

        return withContext;
    }
}
