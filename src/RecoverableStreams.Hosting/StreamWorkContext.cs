using System.Text.Json;
using RecoverableStreams.Hosting.Processing;
using StackExchange.Redis;

namespace RecoverableStreams.Hosting;

/// <summary>
/// What a <see cref="IStreamWorkHandler"/> is given for one stream: who, why, and the checkpoint API. The worker makes
/// it from the stream's lease; tests make one with <see cref="Create"/>.
/// </summary>
public sealed class StreamWorkContext
{
    private readonly IStreamWorkContextBackend _backend;
    private readonly CancellationToken _handlerToken;

    private StreamWorkContext(IStreamWorkContextBackend backend, int attempt, CancellationToken handlerToken)
    {
        _backend = backend;
        Attempt = attempt;
        _handlerToken = handlerToken;
    }

    internal StreamWorkContext(StreamLease lease, int attempt, CancellationToken handlerToken)
        : this(new LeaseBackend(lease), attempt, handlerToken)
    {
    }

    /// <summary>The Redis key of the data stream.</summary>
    public string DataStreamName => _backend.DataStreamName;

    /// <summary>The id of the LBS entry that announced the stream.</summary>
    public string IdInLbs => _backend.IdInLbs;

    /// <summary>
    /// The producer's <c>Info</c> object, when the LBS entry carried one. A <see cref="StreamPublisher"/> that announced
    /// within a trace added its W3C context under <see cref="CoreDiagnostics.TraceParentInfoKey"/>.
    /// </summary>
    public IReadOnlyDictionary<string, JsonElement>? AdditionalInfo => _backend.AdditionalInfo;

    /// <summary>How this worker came to own the stream: a new entry, taken over from a peer, or taken back after a restart.</summary>
    public LeaseOrigin Origin => _backend.Origin;

    /// <summary>
    /// Which attempt this is: 1 plus the failed attempts counted so far in Redis (by any worker, across restarts).
    /// </summary>
    public int Attempt { get; }

    /// <summary>This worker's consumer id.</summary>
    public string ConsumerId => _backend.ConsumerId;

    /// <summary>Increases with every acquisition of every stream; pass it to downstream writes so they can reject a stale owner.</summary>
    public long FencingToken => _backend.FencingToken;

    /// <summary>The lease this worker holds on the stream.</summary>
    /// <exception cref="InvalidOperationException">The context was made by <see cref="Create"/> (a test): it has no lease.</exception>
    public StreamLease Lease => (_backend as LeaseBackend)?.Lease
        ?? throw new InvalidOperationException("This StreamWorkContext was made by StreamWorkContext.Create (a test) and has no StreamLease; use the context's own members.");

    /// <summary>
    /// Makes a context over <paramref name="backend"/>, for unit tests of handlers (the RecoverableStreams.Testing
    /// package's <c>FakeStreamWork</c> is a ready backend). <see cref="Lease"/> is not available on it.
    /// </summary>
    /// <param name="backend">Where the context reads entries and stores checkpoints.</param>
    /// <param name="attempt">The attempt number the handler sees (1 for the first).</param>
    /// <param name="cancellationToken">The handler's token: the worker cancels it when the host stops or ownership is lost.</param>
    /// <returns>The context.</returns>
    public static StreamWorkContext Create(IStreamWorkContextBackend backend, int attempt = 1, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        return new StreamWorkContext(backend, attempt, cancellationToken);
    }

    /// <summary>
    /// Reads the data stream's entries in order after <paramref name="afterId"/> or, when it is not given, after the
    /// stored checkpoint; waits for new entries at the end. Ends with an <see cref="OperationCanceledException"/> when
    /// the host stops, ownership is lost, or <paramref name="cancellationToken"/> fires. Reading counts as progress for
    /// <see cref="RecoverableStreamOptions.HandlerStallTimeout"/>.
    /// </summary>
    /// <param name="afterId">Start after this entry id; <see langword="null"/> resumes after the checkpoint.</param>
    /// <param name="batchSize">How many entries one round trip reads.</param>
    /// <param name="cancellationToken">Stops the reading.</param>
    /// <returns>The entries, as they come.</returns>
    public async IAsyncEnumerable<StreamEntry> ReadEntriesAsync(string? afterId = null, int batchSize = 100, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _handlerToken);
        await foreach (var entry in _backend.ReadEntriesAsync(afterId, batchSize, linked.Token).ConfigureAwait(false))
        {
            yield return entry;
        }
    }

    /// <summary>
    /// Stores the id of the last processed entry and optional state, atomically with an ownership check; a new owner
    /// resumes after it.
    /// </summary>
    /// <param name="position">The id of the last processed entry of the data stream.</param>
    /// <param name="state">Optional application state, replaced as a whole.</param>
    /// <param name="cancellationToken">Cancels before the write is sent.</param>
    /// <returns>A task that completes when the checkpoint is stored.</returns>
    /// <exception cref="StreamOwnershipLostException">This worker no longer owns the stream; nothing was written.</exception>
    public Task CheckpointAsync(string position, ReadOnlyMemory<byte> state = default, CancellationToken cancellationToken = default) =>
        _backend.CheckpointAsync(position, state, cancellationToken);

    /// <summary>Reads the stored checkpoint, whoever wrote it.</summary>
    /// <param name="cancellationToken">Cancels the wait for Redis.</param>
    /// <returns>The checkpoint, or <see langword="null"/> when none was stored.</returns>
    public Task<StreamCheckpoint?> GetCheckpointAsync(CancellationToken cancellationToken = default) =>
        _backend.GetCheckpointAsync(cancellationToken);

    /// <summary>
    /// Records progress for <see cref="RecoverableStreamOptions.HandlerStallTimeout"/>; call it when the handler makes
    /// progress without reading or checkpointing.
    /// </summary>
    public void Heartbeat() => _backend.Heartbeat();

    /// <inheritdoc />
    public override string ToString() => $"{DataStreamName} ({IdInLbs}) attempt {Attempt}, {Origin}, token {FencingToken}";
}
