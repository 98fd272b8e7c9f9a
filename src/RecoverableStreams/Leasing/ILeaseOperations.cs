using StackExchange.Redis;

namespace RecoverableStreams.Leasing;

/// <summary>What a <see cref="StreamLease"/> asks of the client that issued it.</summary>
internal interface ILeaseOperations
{
    TimeProvider Time { get; }

    Task<StreamCheckpoint?> GetCheckpointAsync(StreamLease lease, CancellationToken cancellationToken);

    Task CheckpointAsync(StreamLease lease, string position, ReadOnlyMemory<byte> state, CancellationToken cancellationToken);

    Task<long> RecordFailedAttemptAsync(StreamLease lease, CancellationToken cancellationToken);

    Task<long> GetFailedAttemptsAsync(StreamLease lease, CancellationToken cancellationToken);

    Task CompleteAsync(StreamLease lease, CancellationToken cancellationToken);

    Task ReleaseAsync(StreamLease lease, CancellationToken cancellationToken);

    Task DeadLetterAsync(StreamLease lease, string reason, CancellationToken cancellationToken);

    /// <summary>Reads the lease's data stream after <paramref name="afterId"/> (<see langword="null"/>: after its checkpoint) until cancelled or ownership ends.</summary>
    IAsyncEnumerable<StreamEntry> ReadDataStreamAsync(StreamLease lease, string? afterId, int batchSize, CancellationToken cancellationToken);
}
