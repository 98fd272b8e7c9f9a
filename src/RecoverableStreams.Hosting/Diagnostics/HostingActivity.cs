using System.Diagnostics;
using System.Text.Json;

namespace RecoverableStreams.Hosting.Diagnostics;

/// <summary>
/// The one <see cref="ActivitySource"/>: a consumer span per stream session, named and tagged after OpenTelemetry's
/// messaging conventions (the message is the LBS entry, the destination the LBS, the consumer group the service's
/// group). Its parent is the producer's trace when the entry's <c>Info</c> carries one
/// (<see cref="CoreDiagnostics.TraceParentInfoKey"/>, written by <see cref="StreamPublisher"/>); without it (a Go
/// producer, or no trace at publish time) the span starts a new trace.
/// </summary>
internal static class HostingActivity
{
    public static readonly ActivitySource Source = new(RecoverableStreamsDiagnostics.ActivitySourceName, typeof(HostingActivity).Assembly.GetName().Version?.ToString());

    public static Activity? StartSession(StreamLease lease, RecoverableStreamOptions options)
    {
        var service = options.ServiceName ?? "";
        var lbs = options.LbsStreamKey ?? service + "-input";
        var group = options.ConsumerGroup ?? service + "-group";
        var activity = Source.StartActivity(ActivityKind.Consumer, ProducerContext(lease.AdditionalInfo), name: "process " + lbs);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("messaging.system", "redis");
            activity.SetTag("messaging.operation.type", "process");
            activity.SetTag("messaging.operation.name", "process");
            activity.SetTag("messaging.destination.name", lbs);
            activity.SetTag("messaging.consumer.group.name", group);
            activity.SetTag("messaging.message.id", lease.IdInLbs);
            activity.SetTag("messaging.client.id", lease.ConsumerId);
            activity.SetTag("recoverable_streams.data_stream", lease.DataStreamName);
            activity.SetTag("recoverable_streams.lbs_id", lease.IdInLbs);
            activity.SetTag("recoverable_streams.origin", HostingMetrics.OriginName(lease.Origin));
            activity.SetTag("recoverable_streams.fencing_token", lease.FencingToken);
            activity.SetTag("recoverable_streams.consumer_id", lease.ConsumerId);
        }

        return activity;
    }

    /// <summary>Marks the span failed, as OpenTelemetry's conventions say: Error status and <c>error.type</c>.</summary>
    public static void Failed(Activity? activity, Exception failure)
    {
        activity?.SetStatus(ActivityStatusCode.Error, failure.Message);
        activity?.SetTag("error.type", failure.GetType().FullName);
    }

    /// <summary>The producer's context from the entry's <c>Info</c>, or default (a root span) when absent or malformed.</summary>
    internal static ActivityContext ProducerContext(IReadOnlyDictionary<string, JsonElement>? info)
    {
        if (info is null
            || !info.TryGetValue(CoreDiagnostics.TraceParentInfoKey, out var parent)
            || parent.ValueKind != JsonValueKind.String)
        {
            return default;
        }

        var state = info.TryGetValue(CoreDiagnostics.TraceStateInfoKey, out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
        return ActivityContext.TryParse(parent.GetString(), state, isRemote: true, out var context) ? context : default;
    }
}
