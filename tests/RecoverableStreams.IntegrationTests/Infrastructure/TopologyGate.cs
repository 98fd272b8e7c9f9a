namespace RecoverableStreams.IntegrationTests.Infrastructure;

/// <summary>
/// One multi-node topology (a Redis Cluster, a Sentinel group) at a time in a test process. Their nodes detect failures
/// fast (<c>cluster-node-timeout</c> 1 s, <c>down-after-milliseconds</c> 3 s), which keeps the failover tests short;
/// but two topologies at once are 9 to 15 redis-server processes on a 2-core machine, where a node starved for
/// a second is declared dead and fails over by accident. Serializing them keeps the fast timeouts safe; the other
/// tests still run beside the one topology. A topology takes its turn in <c>StartAsync</c> and gives it back when it
/// is disposed.
/// </summary>
internal static class TopologyGate
{
    private static readonly SemaphoreSlim Gate = new(1, 1);

    /// <summary>Waits for the turn (as long as another topology's tests may take) and returns it, to dispose once.</summary>
    public static async Task<IDisposable> EnterAsync()
    {
        if (!await Gate.WaitAsync(TimeSpan.FromMinutes(15)))
        {
            throw new TimeoutException("Another Redis topology held the test process' topology turn for 15 minutes.");
        }

        return new Turn();
    }

    private sealed class Turn : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                Gate.Release();
            }
        }
    }
}
