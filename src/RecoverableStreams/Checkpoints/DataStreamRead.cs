using StackExchange.Redis;

namespace RecoverableStreams.Checkpoints;

/// <summary>
/// One handler's read of a data stream, as <see cref="StreamLease.ReadEntriesAsync"/> returns it: holds the read's
/// arguments until it is enumerated, then each enumeration is a <see cref="DataStreamReadEnumerator"/>. The two tokens
/// combine as in a compiler-built iterator with <c>[EnumeratorCancellation]</c>: either one stops the read.
/// </summary>
internal sealed class DataStreamRead(DataStreamReader reader, StreamLease lease, string? afterId, int batchSize, CancellationToken readToken)
    : IAsyncEnumerable<StreamEntry>
{
    public IAsyncEnumerator<StreamEntry> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        var token = readToken;
        CancellationTokenSource? linked = null;
        if (cancellationToken.CanBeCanceled && cancellationToken != token)
        {
            if (token.CanBeCanceled)
            {
                linked = CancellationTokenSource.CreateLinkedTokenSource(token, cancellationToken);
                token = linked.Token;
            }
            else
            {
                token = cancellationToken;
            }
        }

        return new DataStreamReadEnumerator(reader, lease, afterId, batchSize, linked, token);
    }
}
