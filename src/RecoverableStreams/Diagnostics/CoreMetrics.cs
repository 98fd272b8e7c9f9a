using System.Diagnostics;
using System.Diagnostics.Metrics;
using RecoverableStreams.Leasing;

namespace RecoverableStreams.Diagnostics;

/// <summary>
/// The core's instruments, on the meter <see cref="CoreDiagnostics.MeterName"/>. The core has no DI, so the meter is
/// static (as in StackExchange.Redis); every call site is one line, tagged with the LBS key so that several services
/// in one process stay apart. No OpenTelemetry dependency: any <see cref="MeterListener"/> can read them.
/// </summary>
internal static class CoreMetrics
{
    private const string DestinationTag = "messaging.destination.name";
    private const string OriginTag = "recoverable_streams.origin";
    private const string ReasonTag = "recoverable_streams.reason";

    private static readonly Meter Meter = new(CoreDiagnostics.MeterName, typeof(CoreMetrics).Assembly.GetName().Version?.ToString());

    private static readonly UpDownCounter<long> LeasesHeld = Meter.CreateUpDownCounter<long>(
        "recoverable_streams.leases.held", "{lease}", "Leases this process holds now.");

    private static readonly Counter<long> LeasesAcquired = Meter.CreateCounter<long>(
        "recoverable_streams.leases.acquired", "{lease}", "Leases taken: new LBS entries (origin assigned) and expired or released ones claimed (origin claimed or recovered).");

    private static readonly Counter<long> LeasesLost = Meter.CreateCounter<long>(
        "recoverable_streams.leases.lost", "{lease}", "Leases whose ownership ended without this consumer's choice (expired, taken over, local deadline passed).");

    private static readonly Histogram<double> RenewalDuration = Meter.CreateHistogram<double>(
        "recoverable_streams.renewal.duration", "s", "One renewal round trip (up to 1,000 leases and the heartbeat).");

    private static readonly Gauge<long> LbsLag = Meter.CreateGauge<long>(
        "recoverable_streams.lbs.lag", "{entry}", "LBS entries not yet delivered to the consumer group, as the last read saw it.");

    private static readonly Counter<long> DeadLetters = Meter.CreateCounter<long>(
        "recoverable_streams.dead_letters", "{entry}", "LBS entries moved to the dead-letter stream (reason malformed or application).");

    /// <summary>A lease was taken and added to the registry.</summary>
    public static void LeaseAcquired(string lbs, LeaseOrigin origin)
    {
        var tags = new TagList { { DestinationTag, lbs }, { OriginTag, OriginName(origin) } };
        LeasesAcquired.Add(1, tags);
        LeasesHeld.Add(1, new KeyValuePair<string, object?>(DestinationTag, lbs));
    }

    /// <summary>
    /// A lease ended (<see cref="LeaseOperations.End"/>). Ends the application did not ask for (session ended,
    /// superseded, force-released, handed over, stalled) also count as lost.
    /// </summary>
    public static void LeaseEnded(string lbs, bool askedFor)
    {
        LeasesHeld.Add(-1, new KeyValuePair<string, object?>(DestinationTag, lbs));
        if (!askedFor)
        {
            LeasesLost.Add(1, new KeyValuePair<string, object?>(DestinationTag, lbs));
        }
    }

    /// <summary>One renewal call, measured from its send time.</summary>
    public static void Renewed(string lbs, TimeSpan duration) =>
        RenewalDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>(DestinationTag, lbs));

    /// <summary>The group's lag as the read script reported it (negative: Redis could not tell, nothing is recorded).</summary>
    public static void Lag(string lbs, long entries)
    {
        if (entries >= 0)
        {
            LbsLag.Record(entries, new KeyValuePair<string, object?>(DestinationTag, lbs));
        }
    }

    /// <summary>An entry went to the dead-letter stream: <paramref name="malformed"/> when the core refused it, else the application's choice.</summary>
    public static void DeadLettered(string lbs, bool malformed) =>
        DeadLetters.Add(1, new TagList { { DestinationTag, lbs }, { ReasonTag, malformed ? "malformed" : "application" } });

    public static string OriginName(LeaseOrigin origin) => origin switch
    {
        LeaseOrigin.Assigned => "assigned",
        LeaseOrigin.Claimed => "claimed",
        _ => "recovered",
    };
}
