using System.Diagnostics;
using System.Diagnostics.Metrics;
using RecoverableStreams.Keys;

namespace RecoverableStreams.Diagnostics;

/// <summary>
/// The core's instruments, on the meter <see cref="CoreDiagnostics.MeterName"/>: one instrument per fact the core
/// knows (leases taken, held and ended, renewals, lag, entries refused before delivery); the hosting package counts
/// only what it alone knows (docs/HOSTING.md, "Observability", lists both). The meter comes from the
/// <see cref="IMeterFactory"/> the client was given (the host's, through DI), else the client creates its own and
/// disposes it when it stops. Every measurement carries the OpenTelemetry messaging attributes of its partition
/// (<c>messaging.system</c>, <c>messaging.destination.name</c> = the LBS key, <c>messaging.consumer.group.name</c>),
/// so several services in one process stay apart. No OpenTelemetry dependency: any <see cref="MeterListener"/> reads them.
/// </summary>
internal sealed class CoreMetrics : IDisposable
{
    /// <summary>Every instrument name of this meter, for the vocabulary test and docs/HOSTING.md.</summary>
    public static readonly IReadOnlyList<string> InstrumentNames =
    [
        ConsumedMessagesName, LeasesHeldName, LeasesEndedName, RenewalDurationName, LbsLagName, EntriesRejectedName,
    ];

    internal const string ConsumedMessagesName = "messaging.client.consumed.messages";
    internal const string LeasesHeldName = "recoverable_streams.leases.held";
    internal const string LeasesEndedName = "recoverable_streams.leases.ended";
    internal const string RenewalDurationName = "recoverable_streams.session.renewal.duration";
    internal const string LbsLagName = "recoverable_streams.lbs.lag";
    internal const string EntriesRejectedName = "recoverable_streams.entries.rejected";

    private const string OriginTag = "recoverable_streams.origin";
    private const string ReasonTag = "recoverable_streams.reason";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _consumed;
    private readonly UpDownCounter<long> _held;
    private readonly Counter<long> _ended;
    private readonly Histogram<double> _renewal;
    private readonly Gauge<long> _lag;
    private readonly Counter<long> _rejected;

    private readonly bool _enabled;

    /// <summary>Creates the instruments; with <paramref name="enabled"/> <see langword="false"/> they record nothing.</summary>
    public CoreMetrics(IMeterFactory? factory, bool enabled = true)
    {
        _enabled = enabled;
        var version = typeof(CoreMetrics).Assembly.GetName().Version?.ToString();
        _ownsMeter = factory is null;
        _meter = factory?.Create(new MeterOptions(CoreDiagnostics.MeterName) { Version = version }) ?? new Meter(CoreDiagnostics.MeterName, version);
        _consumed = _meter.CreateCounter<long>(
            ConsumedMessagesName, "{message}", "LBS entries delivered to this consumer as owned streams: new ones (origin assigned) and expired or released ones taken over (origin claimed or recovered).");
        _held = _meter.CreateUpDownCounter<long>(LeasesHeldName, "{lease}", "Streams this consumer owns now.");
        _ended = _meter.CreateCounter<long>(
            LeasesEndedName, "{lease}", "Leases that ended, by reason (completed, released, handed_over, dead_lettered, stalled, session_ended, superseded, force_released, shutdown).");
        _renewal = _meter.CreateHistogram<double>(RenewalDurationName, "s", "One renewal of the consumer's session: the script calls of every partition, which extend all of its leases.");
        _lag = _meter.CreateGauge<long>(LbsLagName, "{entry}", "LBS entries not yet delivered to the consumer group, as the last read saw it.");
        _rejected = _meter.CreateCounter<long>(
            EntriesRejectedName, "{entry}", "LBS entries the core moved to the dead-letter stream before any delivery (reason malformed: unreadable or over a limit; duplicate: the stream is announced by a live entry).");
    }

    /// <summary>A lease was taken and added to the registry.</summary>
    public void LeaseAcquired(StreamKeys keys, LeaseOrigin origin)
    {
        if (!_enabled)
        {
            return;
        }

        var tags = Tags(keys);
        tags.Add(OriginTag, OriginName(origin));
        _consumed.Add(1, tags);
        _held.Add(1, Tags(keys));
    }

    /// <summary>A lease ended (<see cref="Leasing.LeaseOperations.End"/>), once, with its reason.</summary>
    public void LeaseEnded(StreamKeys keys, LeaseEndReason reason)
    {
        if (!_enabled)
        {
            return;
        }

        _held.Add(-1, Tags(keys));
        var tags = Tags(keys);
        tags.Add(ReasonTag, ReasonName(reason));
        _ended.Add(1, tags);
    }

    /// <summary>One renewal call, measured from its send time.</summary>
    public void Renewed(StreamKeys keys, TimeSpan duration)
    {
        if (_enabled)
        {
            _renewal.Record(duration.TotalSeconds, Tags(keys));
        }
    }

    /// <summary>The group's lag as the read script reported it (negative: Redis could not tell, nothing is recorded).</summary>
    public void Lag(StreamKeys keys, long entries)
    {
        if (!_enabled)
        {
            return;
        }

        if (entries >= 0)
        {
            _lag.Record(entries, Tags(keys));
        }
    }

    /// <summary>An entry went to the dead-letter stream before delivery: <paramref name="duplicate"/> when a live entry announces its stream, else malformed.</summary>
    public void EntryRejected(StreamKeys keys, bool duplicate)
    {
        if (!_enabled)
        {
            return;
        }

        var tags = Tags(keys);
        tags.Add(ReasonTag, duplicate ? "duplicate" : "malformed");
        _rejected.Add(1, tags);
    }

    public static string OriginName(LeaseOrigin origin) => origin switch
    {
        LeaseOrigin.Assigned => "assigned",
        LeaseOrigin.Claimed => "claimed",
        _ => "recovered",
    };

    /// <summary>The reason as a tag value: snake case, stable.</summary>
    public static string ReasonName(LeaseEndReason reason) => reason switch
    {
        LeaseEndReason.Completed => "completed",
        LeaseEndReason.Released => "released",
        LeaseEndReason.HandedOver => "handed_over",
        LeaseEndReason.DeadLettered => "dead_lettered",
        LeaseEndReason.Stalled => "stalled",
        LeaseEndReason.SessionEnded => "session_ended",
        LeaseEndReason.Superseded => "superseded",
        LeaseEndReason.ForceReleased => "force_released",
        LeaseEndReason.Shutdown => "shutdown",
        _ => "unknown",
    };

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }

    private static TagList Tags(StreamKeys keys) => new()
    {
        { "messaging.system", "redis" },
        { "messaging.destination.name", keys.Lbs },
        { "messaging.consumer.group.name", keys.Group },
    };
}
