namespace RecoverableStreams.Hosting;

/// <summary>
/// Works on one data stream. Resolved from a new DI scope for every stream (scoped services such as a DbContext are
/// per stream); register it with <c>AddHandler&lt;THandler&gt;()</c>.
/// </summary>
/// <remarks>
/// Returning normally completes the stream (its LBS entry, lease and checkpoint are removed). Throwing counts a failed
/// attempt: the stream is retried, possibly on another worker, until <see cref="RecoverableStreamsHostingOptions.MaxDeliveryAttempts"/>,
/// then dead-lettered. When <c>cancellationToken</c> fires (the host stops or this worker lost the stream) the stream is
/// never completed, even if the handler returns normally.
/// </remarks>
public interface IStreamWorkHandler
{
    /// <summary>Processes the stream, typically by reading <see cref="StreamWorkContext.ReadEntriesAsync"/> and checkpointing.</summary>
    /// <param name="context">The stream, its lease, and the checkpoint API.</param>
    /// <param name="cancellationToken">Fires when the host stops (the stream is released for a peer) or ownership is lost.</param>
    /// <returns>A task that completes when the stream is finished.</returns>
    Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken);
}
