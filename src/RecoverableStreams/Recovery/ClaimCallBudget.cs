namespace RecoverableStreams.Recovery;

/// <summary>
/// How many claim calls of this consumer's flights (<see cref="ClaimFlight"/>), across all partitions, may be in flight at
/// once: the session's renewals share the connections, and Redis runs one client's pipelined calls back to back, so
/// every call in flight is up to ≈ 13 ms (1,000 streams) ahead of a renewal on its shard. Eight keep a shard busy while
/// this process accepts the replies, and put at most ≈ 0.1 s ahead of a renewal.
/// </summary>
/// <remarks>
/// Measured: a survivor of a crash at 250,000 streams (12 partitions on 3 shards) sent 28 calls per shard at once, and
/// its renewal's reply came after its local deadline; two calls per partition instead made the 10,000-stream crash on one
/// partition 60–90 ms slower (the flight of 3 calls waited for replies). One budget for the consumer bounds the first
/// without the second.
/// </remarks>
internal sealed class ClaimCallBudget
{
    /// <summary>Claim calls of one consumer's flights in flight at once (a flight with none in flight may always send one).</summary>
    public const int MaxCallsInFlight = 8;

    private int _inFlight;

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
}
