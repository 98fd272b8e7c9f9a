using System.Diagnostics;
using System.Text.Json;

namespace RecoverableStreams.Hosting.Diagnostics;

/// <summary>
/// The one <see cref="ActivitySource"/>: a consumer span per stream run, named and tagged after OpenTelemetry's
/// messaging conventions (the message is the LBS entry, the destination the LBS, the consumer group the service's
/// group). Its parent is the producer's trace when the entry's <c>Info</c> carries one
/// (<see cref="CoreDiagnostics.TraceParentInfoKey"/>, written by <see cref="StreamPublisher"/>), read through the app's
/// <see cref="DistributedContextPropagator"/> with its baggage; without it (a Go
/// producer, or no trace at publish time) the span starts a new trace.
/// </summary>
internal static class HostingActivity
{
    public static readonly ActivitySource Source = new(RecoverableStreamsDiagnostics.ActivitySourceName, typeof(HostingActivity).Assembly.GetName().Version?.ToString());

    public static Activity? StartRun(StreamLease lease, RecoverableStreamOptions options, DistributedContextPropagator? propagator = null)
    {
        var service = options.ServiceName ?? "";
        var lbs = options.LbsStreamKey ?? service + "-input";
        var group = options.ConsumerGroup ?? service + "-group";
        var activity = Source.StartActivity(ActivityKind.Consumer, ProducerContext(lease.AdditionalInfo, propagator), name: "process " + lbs);
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

        if (activity is not null)
        {
            foreach (var (key, value) in ProducerBaggage(lease.AdditionalInfo, propagator))
            {
                activity.AddBaggage(key, value);
            }
        }

        return activity;
    }

    /// <summary>Marks the span failed, as OpenTelemetry's conventions say: Error status and <c>error.type</c>.</summary>
    public static void Failed(Activity? activity, Exception failure)
    {
        activity?.SetStatus(ActivityStatusCode.Error, failure.Message);
        activity?.SetTag("error.type", failure.GetType().FullName);
    }

    /// <summary>
    /// The producer's context from the entry's <c>Info</c> through <paramref name="propagator"/> (the app's
    /// <see cref="DistributedContextPropagator"/>), or default (a root span) when absent or malformed. Never throws:
    /// the <c>Info</c> is the producer's, hostile or not (a lone UTF-16 surrogate is valid JSON but no text).
    /// </summary>
    internal static ActivityContext ProducerContext(IReadOnlyDictionary<string, JsonElement>? info, DistributedContextPropagator? propagator = null)
    {
        if (info is null)
        {
            return default;
        }

        try
        {
            (propagator ?? DistributedContextPropagator.Current).ExtractTraceIdAndState(info, ReadField, out var parent, out var state);
            return parent is not null && ActivityContext.TryParse(parent, state, isRemote: true, out var context) ? context : default;
        }
#pragma warning disable CA1031 // A propagator or an unreadable value must never stop the stream from running: start a new trace.
        catch (Exception)
#pragma warning restore CA1031
        {
            return default;
        }
    }

    /// <summary>The producer's baggage from the entry's <c>Info</c> (key <c>baggage</c>), empty when absent or malformed. Never throws.</summary>
    internal static IEnumerable<KeyValuePair<string, string?>> ProducerBaggage(IReadOnlyDictionary<string, JsonElement>? info, DistributedContextPropagator? propagator = null)
    {
        if (info is null)
        {
            return [];
        }

        try
        {
            return (propagator ?? DistributedContextPropagator.Current).ExtractBaggage(info, ReadField)?.ToArray() ?? [];
        }
#pragma warning disable CA1031 // As above: baggage is best effort.
        catch (Exception)
#pragma warning restore CA1031
        {
            return [];
        }
    }

    /// <summary>The propagator's getter over <c>Info</c>: a string field's text, or nothing (other kinds, unreadable text).</summary>
    private static void ReadField(object? carrier, string fieldName, out string? fieldValue, out IEnumerable<string>? fieldValues)
    {
        fieldValues = null;
        fieldValue = null;
        if (carrier is IReadOnlyDictionary<string, JsonElement> info
            && info.TryGetValue(fieldName, out var value)
            && value.ValueKind == JsonValueKind.String)
        {
            try
            {
                fieldValue = value.GetString();
            }
            catch (InvalidOperationException)
            {
                // Escapes that decode to no valid text (a lone surrogate): as if absent.
            }
        }
    }
}
