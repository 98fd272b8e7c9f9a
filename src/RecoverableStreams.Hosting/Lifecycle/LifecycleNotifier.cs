using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RecoverableStreams.Hosting.Diagnostics;

namespace RecoverableStreams.Hosting.Lifecycle;

/// <summary>Tells every registered <see cref="IStreamLifecycleObserver"/>, one after the other; an observer's exception is logged, never rethrown.</summary>
internal sealed class LifecycleNotifier(IEnumerable<IStreamLifecycleObserver> observers, ILoggerFactory? loggerFactory = null)
{
    private readonly IStreamLifecycleObserver[] _observers = observers.ToArray();
    private readonly ILogger _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<LifecycleNotifier>();

    public async Task NotifyAsync(StreamLifecycleEvent lifecycleEvent, CancellationToken cancellationToken)
    {
        foreach (var observer in _observers)
        {
            try
            {
                await observer.OnStreamEventAsync(lifecycleEvent, cancellationToken).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // An observer must never change what happens to a stream.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Log.ObserverFailed(_logger, observer.GetType().Name, lifecycleEvent.Kind.ToString(), ex);
            }
        }
    }
}
