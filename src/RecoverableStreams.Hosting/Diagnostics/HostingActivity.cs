using System.Diagnostics;

namespace RecoverableStreams.Hosting.Diagnostics;

/// <summary>The one <see cref="ActivitySource"/>: a consumer span per stream session.</summary>
internal static class HostingActivity
{
    public const string SessionSpanName = "recoverable_streams.process";

    public static readonly ActivitySource Source = new(RecoverableStreamsDiagnostics.ActivitySourceName);

    public static Activity? StartSession(StreamLease lease)
    {
        var activity = Source.StartActivity(SessionSpanName, ActivityKind.Consumer);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("messaging.system", "redis");
            activity.SetTag("recoverable_streams.data_stream", lease.DataStreamName);
            activity.SetTag("recoverable_streams.lbs_id", lease.IdInLbs);
            activity.SetTag("recoverable_streams.origin", HostingMetrics.OriginName(lease.Origin));
            activity.SetTag("recoverable_streams.fencing_token", lease.FencingToken);
            activity.SetTag("recoverable_streams.consumer_id", lease.ConsumerId);
        }

        return activity;
    }
}
