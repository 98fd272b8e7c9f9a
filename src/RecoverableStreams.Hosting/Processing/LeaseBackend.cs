using System.Text.Json;
using StackExchange.Redis;

namespace RecoverableStreams.Hosting.Processing;

/// <summary>The worker's <see cref="IStreamWorkContextBackend"/>: the stream's lease, as it is.</summary>
internal sealed class LeaseBackend(StreamLease lease) : IStreamWorkContextBackend
{
    public StreamLease Lease => lease;

    public string DataStreamName => lease.DataStreamName;

    public string IdInLbs => lease.IdInLbs;

    public IReadOnlyDictionary<string, JsonElement>? AdditionalInfo => lease.AdditionalInfo;

    public LeaseOrigin Origin => lease.Origin;

    public string ConsumerId => lease.ConsumerId;

    public long FencingToken => lease.FencingToken;

    public IAsyncEnumerable<StreamEntry> ReadEntriesAsync(string? afterId, int batchSize, CancellationToken cancellationToken) =>
        lease.ReadEntriesAsync(afterId, batchSize, cancellationToken);

    public Task CheckpointAsync(string position, ReadOnlyMemory<byte> state, CancellationToken cancellationToken) =>
        lease.CheckpointAsync(position, state, cancellationToken);

    public Task<StreamCheckpoint?> GetCheckpointAsync(CancellationToken cancellationToken) => lease.GetCheckpointAsync(cancellationToken);

    public void Heartbeat() => lease.Heartbeat();
}
