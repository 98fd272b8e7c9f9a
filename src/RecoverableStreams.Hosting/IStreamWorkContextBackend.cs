using System.Text.Json;
using StackExchange.Redis;

namespace RecoverableStreams.Hosting;

/// <summary>
/// What a <see cref="StreamWorkContext"/> reads and writes through. The worker's backend is the stream's
/// <see cref="StreamLease"/>; a test passes its own (the RecoverableStreams.Testing package has one, <c>FakeStreamWork</c>)
/// to <see cref="StreamWorkContext.Create"/> and runs a handler without Redis.
/// </summary>
public interface IStreamWorkContextBackend
{
    /// <summary>The Redis key of the data stream.</summary>
    string DataStreamName { get; }

    /// <summary>The id of the LBS entry that announced the stream.</summary>
    string IdInLbs { get; }

    /// <summary>The producer's <c>Info</c> object, when the LBS entry carried one.</summary>
    IReadOnlyDictionary<string, JsonElement>? AdditionalInfo { get; }

    /// <summary>How this worker came to own the stream.</summary>
    LeaseOrigin Origin { get; }

    /// <summary>This worker's consumer id.</summary>
    string ConsumerId { get; }

    /// <summary>The lease's fencing token.</summary>
    long FencingToken { get; }

    /// <summary>Reads the data stream's entries after <paramref name="afterId"/>, or after the checkpoint when it is <see langword="null"/>.</summary>
    /// <param name="afterId">Start after this entry id; <see langword="null"/> resumes after the checkpoint.</param>
    /// <param name="batchSize">How many entries one round trip reads.</param>
    /// <param name="cancellationToken">Stops the reading.</param>
    /// <returns>The entries, as they come.</returns>
    IAsyncEnumerable<StreamEntry> ReadEntriesAsync(string? afterId, int batchSize, CancellationToken cancellationToken);

    /// <summary>Stores the checkpoint, refusing with <see cref="StreamOwnershipLostException"/> when the stream is no longer owned.</summary>
    /// <param name="position">The id of the last processed entry.</param>
    /// <param name="state">Optional application state.</param>
    /// <param name="cancellationToken">Cancels before the write is sent.</param>
    /// <returns>A task that completes when the checkpoint is stored.</returns>
    Task CheckpointAsync(string position, ReadOnlyMemory<byte> state, CancellationToken cancellationToken);

    /// <summary>Reads the stored checkpoint.</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The checkpoint, or <see langword="null"/> when none was stored.</returns>
    Task<StreamCheckpoint?> GetCheckpointAsync(CancellationToken cancellationToken);

    /// <summary>Records progress for <see cref="RecoverableStreamOptions.HandlerStallTimeout"/>.</summary>
    void Heartbeat();
}
