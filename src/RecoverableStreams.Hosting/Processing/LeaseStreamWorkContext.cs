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

    public override IAsyncEnumerable<StreamEntry> ReadEntriesAsync(string? afterId = null, int batchSize = 100, CancellationToken cancellationToken = default) =>
        // The usual call passes the handler's own token, or none: the lease's reader is returned as it is, without a
        // wrapping iterator and linked token source (~300 bytes per idle stream, and an idle worker holds one per stream).
        !cancellationToken.CanBeCanceled || cancellationToken == handlerToken
            ? lease.ReadEntriesAsync(afterId, batchSize, handlerToken)
            : ReadLinkedAsync(afterId, batchSize, cancellationToken);

    public override Task CheckpointAsync(string position, ReadOnlyMemory<byte> state = default, CancellationToken cancellationToken = default) =>
        lease.CheckpointAsync(position, state, cancellationToken);

    public override Task<StreamCheckpoint?> GetCheckpointAsync(CancellationToken cancellationToken = default) => lease.GetCheckpointAsync(cancellationToken);

    public override void Heartbeat() => lease.Heartbeat();

    private async IAsyncEnumerable<StreamEntry> ReadLinkedAsync(string? afterId, int batchSize, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, handlerToken);
        await foreach (var entry in lease.ReadEntriesAsync(afterId, batchSize, linked.Token).ConfigureAwait(false))
        {
            yield return entry;
        }
    }
}
