using System.Globalization;
using TcpProxy = RecoverableStreams.IntegrationTests.Infrastructure.TcpProxy;

namespace RecoverableStreams.FaultTests.Infrastructure;

/// <summary>The shape of one fault scenario: workers, lease, Redis persistence, the producer's plan, the drain margin.</summary>
internal sealed record ScenarioSettings(string Name)
{
    public int Workers { get; init; } = 3;

    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(2);

    public TimeSpan SweepInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Each worker's <c>MaxConcurrentStreams</c>: below the peak number of live streams, so that work spreads over the
    /// workers (a fault then always hits a worker that owns streams) and streams queue while a worker is out.
    /// </summary>
    public int MaxConcurrentStreams { get; init; } = 40;

    /// <summary>The workers' <c>MaxDeliveryAttempts</c>; null keeps the library's default (5).</summary>
    public int? MaxDeliveryAttempts { get; init; }

    /// <summary>
    /// The service's <c>RecoverableStreamOptions.Partitions</c> (workers and producer alike): each partition has its own
    /// LBS and control keys (<see cref="ServiceKeys"/>), all of which the run watches.
    /// </summary>
    public int Partitions { get; init; } = 1;

    /// <summary>Redis runs with <c>--appendonly yes --appendfsync always</c>.</summary>
    public bool AppendOnly { get; init; }

    /// <summary>The worker (index) that reaches Redis through a <see cref="TcpProxy"/> the test can cut; null for none.</summary>
    public int? PartitionedWorker { get; init; }

    public ProducerPlan Plan { get; init; } = DefaultPlan();

    /// <summary>
    /// After the faults stop (and the producer has written every <c>end</c>), every stream must be completed within
    /// lease + sweep interval + this margin. Generous: the machine is small and shared.
    /// </summary>
    public TimeSpan DrainMargin { get; init; } = TimeSpan.FromSeconds(20);

    public TimeSpan DrainDeadline => LeaseDuration + SweepInterval + DrainMargin;

    /// <summary>
    /// ~150 streams of 20-40 entries, announced over 6 s and written at one entry per 120 ms each (about 8 s per stream).
    /// <c>FAULT_SOAK_STREAMS</c> raises the number of streams (announced over a proportionally longer time).
    /// </summary>
    public static ProducerPlan DefaultPlan(int streams = 150, double announceSeconds = 6)
    {
        var soak = SoakStreams;
        if (soak is { } n)
        {
            announceSeconds *= (double)n / streams;
            streams = n;
        }

        return new ProducerPlan(streams, 20, 40, TimeSpan.FromSeconds(announceSeconds), TimeSpan.FromMilliseconds(120));
    }

    /// <summary><c>FAULT_SOAK_STREAMS</c>: streams per scenario for a long run by hand; null for the normal run.</summary>
    public static int? SoakStreams => int.TryParse(Environment.GetEnvironmentVariable("FAULT_SOAK_STREAMS"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : null;

    /// <summary><c>FAULT_SOAK_MINUTES</c>: how long the mixed scenario keeps injecting faults in a long run; null for one round.</summary>
    public static double? SoakMinutes => double.TryParse(Environment.GetEnvironmentVariable("FAULT_SOAK_MINUTES"), NumberStyles.Float, CultureInfo.InvariantCulture, out var m) && m > 0 ? m : null;
}
