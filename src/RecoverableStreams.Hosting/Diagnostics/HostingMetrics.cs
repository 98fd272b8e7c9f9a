using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using RecoverableStreams.Diagnostics;

namespace RecoverableStreams.Hosting.Diagnostics;

/// <summary>
/// The instruments of <see cref="RecoverableStreamsDiagnostics.MeterName"/>: only the facts the hosting layer alone
/// knows (a handler's run, the time a taken-over stream waited, the lease's headroom). What the core knows (streams
/// taken, owned and ended, by origin and reason) is counted once, by the core's meter; docs/HOSTING.md lists both.
/// The meter comes from <see cref="IMeterFactory"/> when one is registered (it is in every Generic Host).
/// </summary>
internal sealed class HostingMetrics : IDisposable
{
    /// <summary>Every instrument name of this meter, for the vocabulary test and docs/HOSTING.md.</summary>
    public static readonly IReadOnlyList<string> InstrumentNames = [ProcessDurationName, FailoverLatencyName, LeaseHeadroomName];

    internal const string ProcessDurationName = "messaging.process.duration";
    internal const string FailoverLatencyName = "recoverable_streams.failover.latency";
    internal const string LeaseHeadroomName = "recoverable_streams.lease.headroom";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;

    public HostingMetrics(IServiceProvider services)
    {
        var factory = services.GetService<IMeterFactory>();
        var version = typeof(HostingMetrics).Assembly.GetName().Version?.ToString();
        _ownsMeter = factory is null;
        _meter = factory?.Create(new MeterOptions(RecoverableStreamsDiagnostics.MeterName) { Version = version })
            ?? new Meter(RecoverableStreamsDiagnostics.MeterName, version);
        ProcessDuration = _meter.CreateHistogram<double>(
            ProcessDurationName,
            "s",
            "One handler attempt on one stream, from its start to its return or throw (error.type: the exception's type when it threw).");
        FailoverLatency = _meter.CreateHistogram<double>(
            FailoverLatencyName,
            "s",
            "For taken-over streams: from the lease's acquisition (Redis clock) to the handler's start (local clock).");
        LeaseHeadroom = _meter.CreateHistogram<double>(
            LeaseHeadroomName,
            "s",
            "At the end of each handler attempt: how far the lease's deadline (moved by each renewal) was ahead of now. Shrinks toward 0 when renewals are slow or failing.");
    }

    public Histogram<double> ProcessDuration { get; }

    public Histogram<double> FailoverLatency { get; }

    public Histogram<double> LeaseHeadroom { get; }

    /// <summary>The messaging attributes of a lease's measurements, as the core's meter writes them (its partition's LBS key and group), with its origin.</summary>
    public static TagList Tags(StreamLease lease) => new()
    {
        { "messaging.system", "redis" },
        { "messaging.operation.name", "process" },
        { "messaging.destination.name", lease.Partition.Keys.Lbs },
        { "messaging.consumer.group.name", lease.Partition.Keys.Group },
        { "recoverable_streams.origin", OriginName(lease.Origin) },
    };

    public static string OriginName(LeaseOrigin origin) => CoreMetrics.OriginName(origin);

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
