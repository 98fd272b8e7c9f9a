using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RecoverableStreams.Hosting.Connection;
using RecoverableStreams.Hosting.DependencyInjection;

namespace RecoverableStreams.Hosting.Publishing;

/// <summary>
/// The <see cref="IStreamPublisher"/> DI hands out: a <see cref="StreamPublisher"/> for one service, made on first use
/// (resolving it never connects to Redis, so it can be injected into anything, anywhere in start-up).
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "A SemaphoreSlim whose wait handle is never used holds nothing to dispose.")]
internal sealed class HostedStreamPublisher(IServiceProvider services, ServiceBinding binding) : IStreamPublisher
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private StreamPublisher? _publisher;

    public async Task<string> AddStreamAsync(string dataStreamName, IDictionary<string, object?>? info = null, CancellationToken cancellationToken = default)
    {
        var publisher = _publisher ?? await CreateAsync(cancellationToken).ConfigureAwait(false);
        return await publisher.AddStreamAsync(dataStreamName, info, cancellationToken).ConfigureAwait(false);
    }

    private async Task<StreamPublisher> CreateAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_publisher is null)
            {
                var options = services.GetRequiredService<IOptionsMonitor<RecoverableStreamOptions>>().Get(binding.Key);
                var redis = await services.GetRequiredService<RedisConnectionProvider>().GetAsync(binding, cancellationToken).ConfigureAwait(false);
                // The app's propagator when it registered one (as the run side reads it), else DistributedContextPropagator.Current.
                _publisher = new StreamPublisher(redis, options, services.GetService<DistributedContextPropagator>());
            }

            return _publisher;
        }
        finally
        {
            _gate.Release();
        }
    }
}
