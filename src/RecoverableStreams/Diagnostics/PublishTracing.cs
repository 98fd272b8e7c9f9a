using System.Diagnostics;

namespace RecoverableStreams.Diagnostics;

/// <summary>
/// The producer side of tracing: a <c>send</c> span per announcement, and the trace context and baggage written into
/// the entry's <c>Info</c> through the app's <see cref="DistributedContextPropagator"/> (by default W3C: keys
/// <see cref="CoreDiagnostics.TraceParentInfoKey"/>, <see cref="CoreDiagnostics.TraceStateInfoKey"/> and
/// <c>baggage</c>), so the consumer's span continues the producer's trace. Inside
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
    /// The info to write: the caller's, plus the context of <paramref name="activity"/> as the app's
    /// <see cref="DistributedContextPropagator"/> (<paramref name="propagator"/>, else
    /// <see cref="DistributedContextPropagator.Current"/>) writes it (W3C <c>traceparent</c>, <c>tracestate</c> and
    /// <c>baggage</c> by default), when there is an activity and the caller did not set <c>traceparent</c> itself. The
    /// caller's dictionary is never changed.
    /// </summary>
    public static IDictionary<string, object?>? Inject(IDictionary<string, object?>? info, Activity? activity, DistributedContextPropagator? propagator = null)
    {
        if (activity is null || (info?.ContainsKey(CoreDiagnostics.TraceParentInfoKey) ?? false))
        {
            return info;
        }

        var withContext = info is null ? new Dictionary<string, object?>(StringComparer.Ordinal) : new Dictionary<string, object?>(info, StringComparer.Ordinal);
        (propagator ?? DistributedContextPropagator.Current).Inject(
            activity,
            withContext,
            static (carrier, fieldName, fieldValue) =>
            {
                // Never overwrite a field the caller set (its own baggage, say).
                var fields = (Dictionary<string, object?>)carrier!;
                fields.TryAdd(fieldName, fieldValue);
            });
        return withContext.Count == (info?.Count ?? 0) ? info : withContext;
    }
}
