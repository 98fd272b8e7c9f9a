using StackExchange.Redis;

namespace RecoverableStreams.Hosting;

/// <summary>
/// What a <see cref="IStreamWorkHandler"/> is given for one stream: who, why, and the checkpoint API. An abstract
/// class, as ASP.NET Core's <c>HttpContext</c>: the worker's context reads and writes through the stream's lease; the
/// RecoverableStreams.Testing package's <c>FakeStreamWork</c> makes one for a handler's unit test, without Redis.
/// Every member works in both.
/// </summary>
public abstract class StreamWorkContext
{
    /// <summary>For the worker's context and the testing package's.</summary>
    protected StreamWorkContext()
    {
    }

    /// <summary>The Redis key of the data stream.</summary>
    public abstract string DataStreamName { get; }

    /// <summary>The id of the LBS entry that announced the stream.</summary>
    public abstract string IdInLbs { get; }

    /// <summary>
    /// The producer's <c>Info</c> object, when the LBS entry carried one. A <see cref="StreamPublisher"/> that announced
    /// within a trace added its W3C context under <see cref="CoreDiagnostics.TraceParentInfoKey"/>.
    /// </summary>
    public abstract IReadOnlyDictionary<string, System.Text.Json.JsonElement>? AdditionalInfo { get; }

    /// <summary>How this worker came to own the stream: a new entry, taken over from a peer, or taken back after a restart.</summary>
    public abstract LeaseOrigin Origin { get; }

    /// <summary>
    /// Which attempt this is: 1 plus the failed attempts counted so far in Redis (by any worker, across restarts).
    /// </summary>
    public abstract int Attempt { get; }

    /// <summary>This worker's consumer id.</summary>
    public abstract string ConsumerId { get; }

    /// <summary>Increases with every acquisition of every stream; pass it to downstream writes so they can reject a stale owner.</summary>
    public abstract long FencingToken { get; }

    /// <summary><see langword="true"/> while this worker owns the stream; <see langword="false"/> once <see cref="OwnershipLost"/> fired.</summary>
    public abstract bool IsOwned { get; }

    /// <summary>
    /// Fires when this worker stops owning the stream (the handler's own token also fires then, and when the host stops).
    /// </summary>
    public abstract CancellationToken OwnershipLost { get; }

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
    public abstract IAsyncEnumerable<StreamEntry> ReadEntriesAsync(string? afterId = null, int batchSize = 100, CancellationToken cancellationToken = default);

    /// <summary>
    /// Stores the id of the last processed entry and optional state, atomically with an ownership check; a new owner
    /// resumes after it.
    /// </summary>
    /// <param name="position">The id of the last processed entry of the data stream.</param>
    /// <param name="state">Optional application state, replaced as a whole.</param>
    /// <param name="cancellationToken">Cancels before the write is sent.</param>
    /// <returns>A task that completes when the checkpoint is stored.</returns>
    /// <exception cref="StreamOwnershipLostException">This worker no longer owns the stream; nothing was written.</exception>
    public abstract Task CheckpointAsync(string position, ReadOnlyMemory<byte> state = default, CancellationToken cancellationToken = default);

    /// <summary>Reads the stored checkpoint, whoever wrote it.</summary>
    /// <param name="cancellationToken">Cancels the wait for Redis.</param>
    /// <returns>The checkpoint, or <see langword="null"/> when none was stored.</returns>
    public abstract Task<StreamCheckpoint?> GetCheckpointAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Records progress for <see cref="RecoverableStreamOptions.HandlerStallTimeout"/>; call it when the handler makes
    /// progress without reading or checkpointing.
    /// </summary>
    public abstract void Heartbeat();

    /// <inheritdoc />
    public override string ToString() => $"{DataStreamName} ({IdInLbs}) attempt {Attempt}, {Origin}, token {FencingToken}";
}
