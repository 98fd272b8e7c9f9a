using System.Diagnostics;
using Microsoft.Extensions.Logging;
using RecoverableStreams.Hosting.Lifecycle;

namespace RecoverableStreams.Hosting.Diagnostics;

/// <summary>
/// The one funnel of a stream run's telemetry: a run reports each <see cref="StreamRunEvent"/> once, here, and this
/// writes the log line, the metrics, the span's tags and the <see cref="IStreamLifecycleObserver"/> event from it.
/// No other code of the hosting layer logs, counts or notifies a stream's lifecycle.
/// </summary>
internal sealed class StreamRunTelemetry(ILogger logger, HostingMetrics? metrics, LifecycleNotifier notifier, int maxDeliveryAttempts, TimeProvider time)
{
    /// <summary>The span tag naming the outcome (<see cref="OutcomeName"/>).</summary>
    public const string OutcomeTag = "recoverable_streams.outcome";

    public async Task ReportAsync(StreamRunEvent e, Activity? span, CancellationToken hostStopping)
    {
        WriteLog(e);
        WriteMetrics(e);
        WriteSpan(e, span);
        if (ToLifecycleEvent(e) is { } lifecycle)
        {
            await notifier.NotifyAsync(lifecycle, hostStopping).ConfigureAwait(false);
        }
    }

    /// <summary>The outcome as a tag value: snake case, stable.</summary>
    public static string OutcomeName(StreamRunOutcome outcome) => outcome switch
    {
        StreamRunOutcome.Completed => "completed",
        StreamRunOutcome.RetryScheduled => "retry_scheduled",
        StreamRunOutcome.DeadLettered => "dead_lettered",
        StreamRunOutcome.OwnershipLost => "ownership_lost",
        StreamRunOutcome.ReleasedAtShutdown => "released_at_shutdown",
        StreamRunOutcome.HandedOver => "handed_over",
        _ => "unknown",
    };

    private void WriteLog(StreamRunEvent e)
    {
        var lease = e.Lease;
        switch (e.Kind)
        {
            case StreamRunEventKind.HandlerStarting:
                Log.HandlerStarting(logger, lease.DataStreamName, lease.IdInLbs, e.Handler ?? "", e.Attempt ?? 1, lease.Origin, lease.FencingToken);
                break;
            case StreamRunEventKind.AttemptFailed when e.IsOutage:
                Log.HandlerFailedOnRedis(logger, lease.DataStreamName, lease.IdInLbs, e.Exception!);
                break;
            case StreamRunEventKind.AttemptFailed:
                Log.HandlerFailed(logger, lease.DataStreamName, lease.IdInLbs, e.FailedAttempts, maxDeliveryAttempts, e.Exception!);
                break;
            case StreamRunEventKind.Ended:
                switch (e.Outcome)
                {
                    case StreamRunOutcome.Completed:
                        Log.StreamCompleted(logger, lease.DataStreamName, lease.IdInLbs);
                        break;
                    case StreamRunOutcome.RetryScheduled:
                        Log.ReleasedForRetry(logger, lease.DataStreamName, lease.IdInLbs, e.Delay ?? TimeSpan.Zero);
                        break;
                    case StreamRunOutcome.DeadLettered:
                        Log.StreamDeadLettered(logger, lease.DataStreamName, lease.IdInLbs, e.Reason ?? "");
                        break;
                    case StreamRunOutcome.OwnershipLost:
                        Log.LostWhileHandling(logger, lease.DataStreamName, lease.IdInLbs);
                        break;
                    case StreamRunOutcome.ReleasedAtShutdown:
                        Log.ReleasedAtShutdown(logger, lease.DataStreamName, lease.IdInLbs);
                        break;
                    case StreamRunOutcome.HandedOver:
                        Log.HandedOver(logger, lease.DataStreamName, lease.IdInLbs, e.Reason ?? "");
                        break;
                }

                break;
        }
    }

    private void WriteMetrics(StreamRunEvent e)
    {
        // Streams taken, owned and ended are the core's facts (its meter counts them once, by origin and reason);
        // only what the run alone knows is measured here. No metrics: the service's DisableMetrics.
        if (metrics is null)
        {
            return;
        }

        switch (e.Kind)
        {
            case StreamRunEventKind.HandlerStarting when e.Lease.Origin != LeaseOrigin.Assigned && e.Delay is { } latency:
                // The run measures it: from the lease's acquisition (Redis clock) to the handler's start (local clock).
                metrics.FailoverLatency.Record(Math.Max(0, latency.TotalSeconds), HostingMetrics.Tags(e.Lease));
                break;
            case StreamRunEventKind.HandlerReturned:
                var tags = HostingMetrics.Tags(e.Lease);
                if (e.Exception is { } failure)
                {
                    tags.Add("error.type", failure.GetType().FullName);
                }

                metrics.ProcessDuration.Record((e.Delay ?? TimeSpan.Zero).TotalSeconds, tags);
                metrics.LeaseHeadroom.Record(Math.Max(0, (e.Lease.ExpiresAt - time.GetUtcNow()).TotalSeconds), HostingMetrics.Tags(e.Lease));
                break;
        }
    }

    private static void WriteSpan(StreamRunEvent e, Activity? span)
    {
        if (span is null)
        {
            return;
        }

        switch (e.Kind)
        {
            case StreamRunEventKind.HandlerStarting:
                span.SetTag("recoverable_streams.attempt", e.Attempt);
                span.SetTag("recoverable_streams.handler", e.Handler);
                break;
            case StreamRunEventKind.AttemptFailed when !e.IsOutage:
                HostingActivity.Failed(span, e.Exception!);
                break;
            case StreamRunEventKind.Ended:
                span.SetTag(OutcomeTag, OutcomeName(e.Outcome!.Value));
                if (e.Exception is { } failure && span.Status != ActivityStatusCode.Error)
                {
                    HostingActivity.Failed(span, failure);
                }

                break;
        }
    }

    private static StreamLifecycleEvent? ToLifecycleEvent(StreamRunEvent e)
    {
        StreamLifecycleEventKind? kind = e.Kind switch
        {
            StreamRunEventKind.Acquired => e.Lease.Origin == LeaseOrigin.Assigned ? StreamLifecycleEventKind.Assigned : StreamLifecycleEventKind.Claimed,
            StreamRunEventKind.AttemptFailed => StreamLifecycleEventKind.Failed,
            StreamRunEventKind.Ended => e.Outcome switch
            {
                StreamRunOutcome.Completed => StreamLifecycleEventKind.Completed,
                StreamRunOutcome.DeadLettered => StreamLifecycleEventKind.DeadLettered,
                StreamRunOutcome.OwnershipLost => StreamLifecycleEventKind.Disowned,
                _ => StreamLifecycleEventKind.Released,
            },
            _ => null,
        };
        if (kind is null)
        {
            return null;
        }

        return new StreamLifecycleEvent
        {
            Kind = kind.Value,
            DataStreamName = e.Lease.DataStreamName,
            IdInLbs = e.Lease.IdInLbs,
            ConsumerId = e.Lease.ConsumerId,
            FencingToken = e.Lease.FencingToken,
            Origin = e.Lease.Origin,
            Attempt = e.Attempt,
            Reason = e.Reason,
            Exception = e.Exception,
            Outcome = e.Kind == StreamRunEventKind.Ended ? e.Outcome : null,
        };
    }
}
