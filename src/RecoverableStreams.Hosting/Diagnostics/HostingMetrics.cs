using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using RecoverableStreams.Hosting.Processing;

namespace RecoverableStreams.Hosting.Diagnostics;

/// <summary>
/// The instruments of <see cref="RecoverableStreamsDiagnostics.MeterName"/>; docs/HOSTING.md lists them. The meter
/// comes from <see cref="IMeterFactory"/> when one is registered (it is in every Generic Host).
/// </summary>
internal sealed class HostingMetrics : IDisposable
{
    private readonly Meter _meter;
    private readonly bool _ownsMeter;

    public HostingMetrics(IServiceProvider services, RecoverableStreamsRuntimes runtimes)
    {
        var factory = services.GetService<IMeterFactory>();
        _ownsMeter = factory is null;
        _meter = factory?.Create(RecoverableStreamsDiagnostics.MeterName) ?? new Meter(RecoverableStreamsDiagnostics.MeterName);

        _meter.CreateObservableUpDownCounter(
            "recoverable_streams.streams.owned",
            () => runtimes.All.Select(r => new Measurement<int>(r.Client?.OwnedStreams.Count ?? 0, new KeyValuePair<string, object?>(ServiceTag, r.Key))),
            "{stream}",
            "Streams this worker owns now.");
        Assigned = _meter.CreateCounter<long>("recoverable_streams.streams.assigned", "{stream}", "New streams this worker took from the load-balancer stream.");
        Claimed = _meter.CreateCounter<long>("recoverable_streams.streams.claimed", "{stream}", "Streams this worker took over after another owner's lease expired or was released (origin tag: claimed or recovered).");
        Completed = _meter.CreateCounter<long>("recoverable_streams.streams.completed", "{stream}", "Streams whose handler returned normally and that were completed.");
        Failed = _meter.CreateCounter<long>("recoverable_streams.streams.failed", "{attempt}", "Handler attempts that threw (each counted in Redis).");
        DeadLettered = _meter.CreateCounter<long>("recoverable_streams.streams.dead_lettered", "{stream}", "Streams moved to the dead-letter stream (attempts exhausted or no handler).");
        Released = _meter.CreateCounter<long>("recoverable_streams.streams.released", "{stream}", "Streams given back unfinished (retry after a failure, or shutdown).");
        FailoverLatency = _meter.CreateHistogram<double>(
            "recoverable_streams.failover.latency",
            "s",
            "For taken-over streams: from the lease's acquisition (Redis clock) to the handler's start (local clock).");
        HandlerDuration = _meter.CreateHistogram<double>("recoverable_streams.handler.duration", "s", "How long a handler ran on one stream session.");
        LeaseHeadroom = _meter.CreateHistogram<double>(
            "recoverable_streams.lease.headroom",
            "s",
            "At the end of each handler run: how far the lease's deadline (moved by each renewal) was ahead of now. Shrinks toward 0 when renewals are slow or failing. The core does not expose the renewal call's own duration.");
    }

    /// <summary>The tag naming the stream service: its key, empty for the default service.</summary>
    public const string ServiceTag = "recoverable_streams.service_key";

    public Counter<long> Assigned { get; }

    public Counter<long> Claimed { get; }

    public Counter<long> Completed { get; }

    public Counter<long> Failed { get; }

    public Counter<long> DeadLettered { get; }

    public Counter<long> Released { get; }

    public Histogram<double> FailoverLatency { get; }

    public Histogram<double> HandlerDuration { get; }

    public Histogram<double> LeaseHeadroom { get; }

    public static TagList OriginTag(LeaseOrigin origin) => new() { { "recoverable_streams.origin", OriginName(origin) } };

    public static string OriginName(LeaseOrigin origin) => origin switch
    {
        LeaseOrigin.Assigned => "assigned",
        LeaseOrigin.Claimed => "claimed",
        _ => "recovered",
    };

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
