using RecoverableStreams.Keys;
using RecoverableStreams.Notifications;
using RecoverableStreams.Scripts;

namespace RecoverableStreams.Partitioning;

/// <summary>
/// One partition of the service as this client serves it (docs/PARTITIONS.md): its keys, the scripts bound to them,
/// and the wake-ups of its reader and scheduler. With one partition (the default) this is the whole service.
/// </summary>
internal sealed class Partition(int index, StreamKeys keys, StreamScripts scripts)
{
    private long _sessionClosedAt;
    private long _pendingPagesRead;

    public int Index { get; } = index;

    public StreamKeys Keys { get; } = keys;

    public StreamScripts Scripts { get; } = scripts;

    /// <summary>Wakes this partition's LBS reader: a new entry, or a free slot.</summary>
    public WakeUpSignal ReaderWake { get; } = new();

    /// <summary>Wakes this partition's scheduler: a release, a closed session, a repaired entry, or a free slot.</summary>
    public WakeUpSignal SchedulerWake { get; } = new();

    /// <summary>Entry ids released by peers recently, so an unclaimed one is announced as released rather than expired.</summary>
    public RecentIds RecentlyReleased { get; } = new(capacity: 4096);

    /// <summary>
    /// When (a local timestamp) a peer's session was last heard closing here: a fair-share reading taken before it
    /// still counts a consumer that left (<see cref="Rebalancing.ServiceLoad"/> reads again).
    /// </summary>
    public long SessionClosedAt => Interlocked.Read(ref _sessionClosedAt);

    public void OnSessionClosed(long at) => Interlocked.Exchange(ref _sessionClosedAt, at);

    /// <summary>Pages of the pending list the reconciler read here (only when cheap totals disagreed), for tests.</summary>
    public long PendingPagesRead => Interlocked.Read(ref _pendingPagesRead);

    public void OnPendingPageRead() => Interlocked.Increment(ref _pendingPagesRead);

    public override string ToString() => Keys.Lbs;
}
