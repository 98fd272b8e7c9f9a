using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RecoverableStreams.Hosting;
using StackExchange.Redis;

namespace RecoverableStreams.Samples.Worker;

/// <summary>
/// Aggregates one telemetry stream: every entry with an integer field <c>v</c> adds to a sum and a count; the entry
/// with field <c>end</c> finishes the stream, writing <c>&lt;service&gt;:summary:&lt;stream&gt;</c> (fenced) and
/// returning, which completes the stream. Progress is checkpointed at least every <see cref="CheckpointEvery"/>
/// entries, position and sums together, so whoever owns the stream next resumes exactly where this one left off.
/// </summary>
public sealed partial class TelemetryAggregator(
    SummaryWriter summaries,
    IOptions<RecoverableStreamOptions> options,
    ILogger<TelemetryAggregator> logger) : IStreamWorkHandler
{
    /// <summary>The most entries processed between two checkpoints: a new owner re-reads at most this many.</summary>
    public const int CheckpointEvery = 10;

    /// <inheritdoc />
    public async Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken)
    {
        var checkpoint = await context.GetCheckpointAsync(cancellationToken);
        var state = checkpoint is null ? TelemetryState.Empty : TelemetryState.FromBytes(checkpoint.State);
        var position = checkpoint?.Position;
        var sinceCheckpoint = 0;
        LogStarted(context.DataStreamName, context.Origin, context.FencingToken, position ?? "start", state.Sum, state.Count);

        try
        {
            // Reads after the checkpoint's position (the state above belongs to exactly that position) and waits for
            // new entries: the producer keeps writing after the stream was announced.
            await foreach (var entry in context.ReadEntriesAsync(afterId: position, cancellationToken: cancellationToken))
            {
                if (!entry[(RedisValue)"end"].IsNull)
                {
                    await FinishAsync(context, state);
                    return;
                }

                var value = entry[(RedisValue)"v"];
                if (!value.IsNull && long.TryParse((string?)value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number))
                {
                    state = state.Add(number);
                }

                position = entry.Id.ToString();
                if (++sinceCheckpoint >= CheckpointEvery)
                {
                    await context.CheckpointAsync(position, state.ToBytes(), cancellationToken);
                    sinceCheckpoint = 0;
                }
            }
        }
        catch (OperationCanceledException) when (sinceCheckpoint > 0 && position is not null && context.IsOwned)
        {
            // The host is stopping and this consumer still owns the stream: save what was processed so the next owner
            // does not redo it. (After a lost lease the write would be refused, so it is not attempted.)
            await SaveOnShutdownAsync(context, position, state);
            throw;
        }

        // ReadEntriesAsync only ends by cancellation; reaching here means the stream was cut short.
        cancellationToken.ThrowIfCancellationRequested();
    }

    private async Task FinishAsync(StreamWorkContext context, TelemetryState state)
    {
        var service = options.Value.ServiceName!;
        var written = await summaries.WriteAsync(service, context.DataStreamName, state, context.ConsumerId, context.FencingToken);
        if (written)
        {
            LogFinished(context.DataStreamName, state.Sum, state.Count, context.FencingToken);
        }
        else
        {
            LogFenced(context.DataStreamName, context.FencingToken);
        }
    }

    private async Task SaveOnShutdownAsync(StreamWorkContext context, string position, TelemetryState state)
    {
        try
        {
            await context.CheckpointAsync(position, state.ToBytes(), CancellationToken.None);
        }
        catch (StreamOwnershipLostException)
        {
            // Lost meanwhile: the successor resumes from the previous checkpoint, which is still consistent.
        }
        catch (RecoverableStreamsException ex)
        {
            LogShutdownCheckpointFailed(context.DataStreamName, ex.Message);
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "{Stream}: {Origin} with token {Token}, resuming after {Position} (sum {Sum}, count {Count})")]
    private partial void LogStarted(string stream, LeaseOrigin origin, long token, string position, long sum, long count);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "{Stream}: finished, sum {Sum} count {Count} (token {Token})")]
    private partial void LogFinished(string stream, long sum, long count, long token);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "{Stream}: summary not written, a newer owner holds a token above {Token}")]
    private partial void LogFenced(string stream, long token);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "{Stream}: the shutdown checkpoint failed: {Reason}")]
    private partial void LogShutdownCheckpointFailed(string stream, string reason);
}
