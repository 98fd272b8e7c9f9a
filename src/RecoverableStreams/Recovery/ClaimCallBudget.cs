namespace RecoverableStreams.Recovery;

/// <summary>
/// How much claim work of this consumer's failover path may be queued in Redis ahead of its session's renewal: the claim
/// calls of its flights (<see cref="ClaimFlight"/>) in flight at once, across all partitions, and how many streams each
/// call asks for. The renewals share the connections, and Redis runs one client's pipelined calls back to back, so every
/// call in flight is up to ≈ 4 ms (250 streams, one survivor) ahead of a renewal on its shard.
/// </summary>
/// <remarks>
/// Calls in flight: a survivor of a crash at 250,000 streams (12 partitions on 3 shards) sent 28 calls per shard at once,
/// and its renewal's reply came after its local deadline; two calls per partition instead made the 10,000-stream crash
/// on one partition 60–90 ms slower (the flight of 3 calls waited for replies). Eight for the consumer bound the first
/// without the second. Streams per call: the renewal's round trip is the signal (<see cref="RenewalTook"/>). At
/// 1,000,000 streams, the three survivors of a crash each claiming 1,000 streams a call put their renewals 360–645 ms
/// behind the claims queued on the shards (each process' CPU at 16–54 %, so not this process), and all three sessions
/// ended within seconds; then their streams were orphans again, and the take-over never settled. A renewal slower than
/// the renew interval (renewals no longer keep their cadence: the session's margin is being spent) halves the calls'
/// size (down to <see cref="MinStreamsPerCall"/>), one faster than half of it doubles it back (up to
/// <see cref="MaxStreamsPerCall"/>): the take-over slows down instead of the session ending. Not earlier:
/// at half the interval, renewals of a one-process 10,000-stream take-over tripped it and cost that take-over 40–60 ms.
/// At most 250 streams a call, although a script call takes up to 1,000: Redis writes replies only between turns of
/// its event loop, after every call that arrived with them has run, so a survivor whose flight sent 1,000-stream calls
/// got them all back at once and accepted 3,334 streams after the last one ran (its accept then ran 40–90 ms past
/// Redis's work). Calls of 250 come back sooner and are accepted while Redis runs the rest; the per-call overhead is
/// a few commands. Measured on one 2-core box, 10,000 streams, 3 survivors: suite crash max 248 → 223 ms and
/// hand-over max 451 → 416 ms (means of 4 runs each); the failover scenario's crash 237 → 220 ms (medians of 6).
/// </remarks>
internal sealed class ClaimCallBudget(TimeSpan renewInterval)
{
    /// <summary>Claim calls of one consumer's flights in flight at once (a flight with none in flight may always send one).</summary>
    public const int MaxCallsInFlight = 8;

    /// <summary>The fewest streams a claim call asks for while renewals are slow.</summary>
    public const int MinStreamsPerCall = 50;

    /// <summary>The most streams a claim call asks for (while renewals are fast); see the remarks.</summary>
    public const int MaxStreamsPerCall = 250;

    private int _inFlight;
    private int _streamsPerCall = MaxStreamsPerCall;

    /// <summary>How many streams the next claim call asks for at most (see <see cref="RenewalTook"/>).</summary>
    public int StreamsPerCall => Volatile.Read(ref _streamsPerCall);

    /// <summary>Takes a slot for one call when fewer than <see cref="MaxCallsInFlight"/> are in flight.</summary>
    public bool TryTake()
    {
        while (true)
        {
            var current = Volatile.Read(ref _inFlight);
            if (current >= MaxCallsInFlight)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _inFlight, current + 1, current) == current)
            {
                return true;
            }
        }
    }

    /// <summary>Gives a slot back when its call's reply came (or it failed).</summary>
    public void Return() => Interlocked.Decrement(ref _inFlight);

    /// <summary>
    /// A renewal's round trip (send to reply): slower than the renew interval halves <see cref="StreamsPerCall"/>,
    /// faster than half of it doubles it, each within its bounds.
    /// </summary>
    public void RenewalTook(TimeSpan roundTrip)
    {
        var current = StreamsPerCall;
        var next = roundTrip > renewInterval ? Math.Max(MinStreamsPerCall, current / 2)
            : roundTrip < renewInterval / 2 ? Math.Min(MaxStreamsPerCall, current * 2)
            : current;
        Volatile.Write(ref _streamsPerCall, next);
    }
}
