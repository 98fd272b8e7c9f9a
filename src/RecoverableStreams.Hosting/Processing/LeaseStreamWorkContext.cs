using System.Runtime.CompilerServices;
using System.Text.Json;
using StackExchange.Redis;

namespace RecoverableStreams.Hosting.Processing;

/// <summary>The worker's <see cref="StreamWorkContext"/>: the stream's lease, as it is, and the run's handler token.</summary>
internal sealed class LeaseStreamWorkContext(StreamLease lease, int attempt, CancellationToken handlerToken) : StreamWorkContext
{
    /// <summary>The lease itself, for the worker's own tests.</summary>
    internal StreamLease Lease => lease;

    public override string DataStreamName => lease.DataStreamName;

    public override string IdInLbs => lease.IdInLbs;

    public override IReadOnlyDictionary<string, JsonElement>? AdditionalInfo => lease.AdditionalInfo;

    public override LeaseOrigin Origin => lease.Origin;

    public override int Attempt => attempt;

    public override string ConsumerId => lease.ConsumerId;

    public override long FencingToken => lease.FencingToken;

    public override bool IsOwned => lease.IsOwned;

    public override CancellationToken OwnershipLost => lease.OwnershipLost;

    public override async IAsyncEnumerable<StreamEntry> ReadEntriesAsync(string? afterId = null, int batchSize = 100, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, handlerToken);
        await foreach (var entry in lease.ReadEntriesAsync(afterId, batchSize, linked.Token).ConfigureAwait(false))
        {
            yield return entry;
        }
    }

    public override Task CheckpointAsync(string position, ReadOnlyMemory<byte> state = default, CancellationToken cancellationToken = default) =>
        lease.CheckpointAsync(position, state, cancellationToken);

    public override Task<StreamCheckpoint?> GetCheckpointAsync(CancellationToken cancellationToken = default) => lease.GetCheckpointAsync(cancellationToken);

    public override void Heartbeat() => lease.Heartbeat();
}
