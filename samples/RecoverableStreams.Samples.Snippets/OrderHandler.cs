using RecoverableStreams.Hosting;

namespace RecoverableStreams.Samples.Snippets;

// snippet: hosting-handler
public sealed class OrderHandler(OrderTotals totals) : IStreamWorkHandler    // resolved from a new DI scope per stream
{
    public async Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken)
    {
        // Resumes after the last checkpoint: a new owner continues where the previous one stopped.
        await foreach (var entry in context.ReadEntriesAsync(cancellationToken: cancellationToken))
        {
            if (!entry["end"].IsNull)
            {
                return;                                     // returning normally completes the stream
            }

            totals.Add(context.DataStreamName, (long)entry["amount"], context.FencingToken);
            await context.CheckpointAsync(entry.Id!, cancellationToken: cancellationToken);
        }
    }
}
// end snippet

public sealed class RefundHandler : IStreamWorkHandler
{
    public Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Stands for the application's own store; the fencing token lets it refuse writes from a stale owner.</summary>
public sealed class OrderTotals
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _totals = new(StringComparer.Ordinal);

    public void Add(string order, long amount, long fencingToken) => _totals.AddOrUpdate(order, amount, (_, total) => total + amount);

    public long Of(string order) => _totals.GetValueOrDefault(order);
}
