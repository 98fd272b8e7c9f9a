using System.Runtime.CompilerServices;
using System.Text.Json;
using RecoverableStreams.Hosting;
using StackExchange.Redis;

namespace RecoverableStreams.Testing;

/// <summary>The testing package's <see cref="StreamWorkContext"/>: a <see cref="FakeStreamWork"/>, one attempt, one handler token.</summary>
internal sealed class FakeStreamWorkContext(FakeStreamWork work, int attempt, CancellationToken handlerToken) : StreamWorkContext
{
    public override string DataStreamName => work.DataStreamName;

    public override string IdInLbs => work.IdInLbs;

    public override IReadOnlyDictionary<string, JsonElement>? AdditionalInfo => work.AdditionalInfo;

    public override LeaseOrigin Origin => work.Origin;

    public override int Attempt => attempt;

    public override string ConsumerId => work.ConsumerId;

    public override long FencingToken => work.FencingToken;

    public override bool IsOwned => work.IsOwned;

    public override CancellationToken OwnershipLost => work.OwnershipLost;

    public override async IAsyncEnumerable<StreamEntry> ReadEntriesAsync(string? afterId = null, int batchSize = 100, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, handlerToken);
        await foreach (var entry in work.ReadEntriesAsync(afterId, batchSize, linked.Token).ConfigureAwait(false))
        {
            yield return entry;
        }
    }

    public override Task CheckpointAsync(string position, ReadOnlyMemory<byte> state = default, CancellationToken cancellationToken = default) =>
        work.CheckpointAsync(position, state, cancellationToken);

    public override Task<StreamCheckpoint?> GetCheckpointAsync(CancellationToken cancellationToken = default) => work.GetCheckpointAsync(cancellationToken);

    public override void Heartbeat() => work.Heartbeat();
}
