namespace RecoverableStreams.Hosting;

/// <summary>
/// Told about every step of every stream's life on this worker (assigned, claimed, released, disowned, completed,
/// failed, dead-lettered). Register any number as singletons: <c>services.AddSingleton&lt;IStreamLifecycleObserver, MyObserver&gt;()</c>.
/// </summary>
/// <remarks>
/// Observers run inline on the stream's processing path, so keep them quick. An exception thrown by an observer is
/// caught and logged (event 253) and never changes what happens to the stream.
/// </remarks>
public interface IStreamLifecycleObserver
{
    /// <summary>Called once per event.</summary>
    /// <param name="lifecycleEvent">What happened, to which stream.</param>
    /// <param name="cancellationToken">Fires when the host stops.</param>
    /// <returns>A task that completes when the observer is done.</returns>
    Task OnStreamEventAsync(StreamLifecycleEvent lifecycleEvent, CancellationToken cancellationToken);
}
