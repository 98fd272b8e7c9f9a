using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RecoverableStreams.Hosting.Connection;
using RecoverableStreams.Hosting.DependencyInjection;
using RecoverableStreams.Hosting.Diagnostics;
using RecoverableStreams.Hosting.Lifecycle;
using RecoverableStreams.Hosting.Routing;

namespace RecoverableStreams.Hosting.Processing;

/// <summary>
/// Runs a <see cref="RecoverableStreamClient"/> (with <see cref="RecoverableStreamOptions.AutoClaim"/>) and starts a
/// <see cref="StreamRun"/> for every stream it is given. The constructor only stores its dependencies: options
/// are read and Redis is touched in <see cref="ExecuteAsync"/>, after the host's start validation. One worker per
/// stream service of the host (<see cref="ServiceBinding"/>), each with its own options, handlers and runtime.
/// </summary>
internal sealed class RecoverableStreamsWorker(IServiceProvider services, ServiceBinding binding) : BackgroundService
{
    /// <summary>The pause before a client that could not start, or that terminated, is started again.</summary>
    private static readonly TimeSpan RestartDelay = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<Task, byte> _runs = new();
    private readonly HandOvers _handOvers = new(services.GetService<TimeProvider>() ?? TimeProvider.System);

    /// <summary>The newest run of each LBS entry, so a stream taken back by this process starts after its previous run here finished.</summary>
    private readonly ConcurrentDictionary<string, Task> _latestRunByEntry = new(StringComparer.Ordinal);
    private readonly ILoggerFactory _loggerFactory = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
    private ILogger? _logger;
    private readonly HandlerRouter _router = new(services.GetServices<HandlerRegistration>().Where(r => string.Equals(r.ServiceKey, binding.Key, StringComparison.Ordinal)));
    private readonly RecoverableStreamsRuntime _runtime = services.GetRequiredService<RecoverableStreamsRuntimes>().Get(binding.Key);
    private readonly RedisConnectionProvider _connections = services.GetRequiredService<RedisConnectionProvider>();
    private readonly HostingMetrics _metrics = services.GetRequiredService<HostingMetrics>();
    private readonly LifecycleNotifier _notifier = services.GetRequiredService<LifecycleNotifier>();
    private RecoverableStreamClient? _client;

    private ILogger Logger => _logger ??= _loggerFactory.CreateLogger<RecoverableStreamsWorker>();

    private TimeProvider Time => services.GetService<TimeProvider>() ?? TimeProvider.System;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        if (_router.Count == 0)
        {
            throw new InvalidOperationException(
                $"{binding.DisplayName} has no handler: add one with AddRecoverableRedisStreams(...).AddHandler<THandler>() (default route) or AddHandler<THandler>(\"pattern*\").");
        }

        return base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _runtime.MarkStopping();
        // Cancels the stopping token (handlers are cancelled through it) and waits for ExecuteAsync, which lets the
        // handlers finish and then releases what is unfinished, until the host's shutdown timeout fires.
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (ExecuteTask is { IsCompleted: false })
        {
            Log.ShutdownTimedOut(Logger, _runs.Count);
        }

        // Idempotent: releases (never completes) whatever is still owned, also when the timeout cut the wait short.
        await StopClientAsync(Volatile.Read(ref _client)).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunClientAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
#pragma warning disable CA1031 // Only cancellation may leave ExecuteAsync: anything else would stop the host.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _runtime.Failed(ex.Message);
                Log.StartFailed(Logger, RestartDelay, ex);
            }

            if (stoppingToken.IsCancellationRequested)
            {
                break;
            }

            try
            {
                await Task.Delay(RestartDelay, Time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        Log.WorkerStopped(Logger);
    }

    private async Task RunClientAsync(CancellationToken stoppingToken)
    {
        var settings = services.GetRequiredService<IOptionsMonitor<RecoverableStreamOptions>>().Get(binding.Key);
        var hosting = services.GetRequiredService<IOptionsMonitor<RecoverableStreamsHostingOptions>>().Get(binding.Key);
        var redis = await _connections.GetAsync(binding, stoppingToken).ConfigureAwait(false);
        var client = new RecoverableStreamClient(redis, settings, _loggerFactory, Time, services.GetService<IMeterFactory>(), recordMetrics: !hosting.DisableMetrics);
        Volatile.Write(ref _client, client);
        try
        {
            // Advertise the routes first: from the moment this worker takes streams, a peer that cannot route one
            // must see that this worker can.
            var routes = new RouteDirectory(redis.GetDatabase(settings.Database), settings, _router, client.ConsumerId);
            await routes.AdvertiseAsync().ConfigureAwait(false);
            var notifications = await client.InitAsync(stoppingToken).ConfigureAwait(false);
            _runtime.Started(redis, client);
            Log.WorkerStarted(Logger, client.ConsumerId, _router.Count);
            var telemetry = new StreamRunTelemetry(Logger, hosting.DisableMetrics ? null : _metrics, _notifier, hosting.MaxDeliveryAttempts, Time);
            var deps = new StreamRunDependencies(client, settings, hosting, services.GetRequiredService<IServiceScopeFactory>(), _router, routes, _handOvers, _metrics, telemetry, services.GetService<DistributedContextPropagator>(), Time, Logger);
            using var advertising = new CancellationTokenSource();
            var advertiser = Task.Run(() => AdvertiseRoutesAsync(routes, advertising.Token), CancellationToken.None);
            try
            {
                await RunStreamsAsync(client, notifications, deps, stoppingToken).ConfigureAwait(false);
            }
            finally
            {
                await advertising.CancelAsync().ConfigureAwait(false);
                await advertiser.ConfigureAwait(false);
                await WithdrawQuietlyAsync(routes).ConfigureAwait(false);
            }
        }
        finally
        {
            if (!stoppingToken.IsCancellationRequested)
            {
                await StopClientAsync(client).ConfigureAwait(false);
            }
        }
    }

    private async Task RunStreamsAsync(RecoverableStreamClient client, ChannelReader<StreamNotification> notifications, StreamRunDependencies deps, CancellationToken stoppingToken)
    {
        var pump = Task.Run(() => PumpAsync(client, notifications, deps, stoppingToken), CancellationToken.None);
        await Task.WhenAny(pump, Task.Delay(Timeout.Infinite, stoppingToken)).ConfigureAwait(false);
        if (!stoppingToken.IsCancellationRequested)
        {
            // The channel completed on its own: the client terminated. Stop what it still runs, then start anew.
            var reason = _runtime.LastError ?? "the notification channel completed";
            await StopClientAsync(client).ConfigureAwait(false);
            await WaitForRunsAsync().ConfigureAwait(false);
            Log.ClientTerminated(Logger, reason, RestartDelay);
            return;
        }

        // Stopping: take no new work (leases held stay renewed, so handlers can still checkpoint), then wait
        // for the cancelled handlers, which release their streams for peers; StopAsync bounds this by the
        // host's shutdown timeout. The pump keeps running and releases anything acquired before the stop.
        Log.WorkerStopping(Logger, _runs.Count);
        await StopAcquiringAsync(client).ConfigureAwait(false);
        await WaitForRunsAsync().ConfigureAwait(false);
        await StopClientAsync(client).ConfigureAwait(false);
        await pump.ConfigureAwait(false);
        throw new OperationCanceledException(stoppingToken);
    }

    /// <summary>Refreshes this worker's routes every lease duration, until the client stops.</summary>
    private async Task AdvertiseRoutesAsync(RouteDirectory routes, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(routes.RefreshInterval, Time, stop).ConfigureAwait(false);
                await routes.AdvertiseAsync().ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is StackExchange.Redis.RedisException or StackExchange.Redis.RedisTimeoutException)
            {
                // The advertisement lives three refreshes: the next one may well succeed.
                Log.RoutesAdvertiseFailed(Logger, ex);
            }
        }
    }

    private async Task WithdrawQuietlyAsync(RouteDirectory routes)
    {
        try
        {
            await routes.WithdrawAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is StackExchange.Redis.RedisException or StackExchange.Redis.RedisTimeoutException)
        {
            // Its time to live ends it soon.
            Log.RoutesAdvertiseFailed(Logger, ex);
        }
    }

    /// <summary>Reads the notification channel to its end (after DoneAsync, or when the client terminates).</summary>
    private async Task PumpAsync(RecoverableStreamClient client, ChannelReader<StreamNotification> notifications, StreamRunDependencies deps, CancellationToken stoppingToken)
    {
        await foreach (var notification in notifications.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            try
            {
                await DispatchAsync(client, notification, deps, stoppingToken).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // One notification must never stop the pump.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Log.RunFailed(Logger, notification.Payload.DataStreamName, notification.Payload.IdInLbs, ex);
            }
        }
    }

    private async Task DispatchAsync(RecoverableStreamClient client, StreamNotification notification, StreamRunDependencies deps, CancellationToken stoppingToken)
    {
        switch (notification.Type)
        {
            case StreamNotificationType.StreamAdded when notification.Lease is { } lease:
                if (stoppingToken.IsCancellationRequested)
                {
                    // No new work once stopping: give it straight back so a peer takes it at once.
                    await ReleaseQuietlyAsync(client, lease).ConfigureAwait(false);
                    return;
                }

                StartRun(lease, new StreamRun(deps, lease, stoppingToken), deps.Options.LeaseDuration);
                return;

            case StreamNotificationType.StreamDisowned:
                // The stream's run learns it from its lease (OwnershipLost) and reports it once, as its outcome.
                return;

            case StreamNotificationType.StreamTerminated:
                _runtime.Failed(notification.TerminationReason?.ToString() ?? "the client terminated");
                return;

            default:
                // StreamExpired and StreamReleased only come with AutoClaim off, which the hosting layer never uses.
                return;
        }
    }

    private void StartRun(StreamLease lease, StreamRun run, TimeSpan maxWait)
    {
        // A stream released for a retry may come straight back to this process: its new run waits until the old
        // one has finished (it is only notifying observers by then), so observers see one stream's events in order.
        // The wait is bounded: a handler that ignores cancellation would hold the stream here forever, and the old
        // run can do no harm meanwhile (its lease is gone, so its writes are refused).
        var idInLbs = lease.IdInLbs;
        var previous = _latestRunByEntry.TryGetValue(idInLbs, out var running) ? running : Task.CompletedTask;
        var task = Task.Run(
            async () =>
            {
                if (!previous.IsCompleted)
                {
                    var finished = await Task.WhenAny(previous, Task.Delay(maxWait, Time)).ConfigureAwait(false);
                    if (finished != previous)
                    {
                        Log.PreviousRunStillRunning(Logger, lease.DataStreamName, idInLbs, maxWait);
                    }
                }

                await run.RunAsync().ConfigureAwait(false);
            },
            CancellationToken.None);
        _latestRunByEntry[idInLbs] = task;
        _runs.TryAdd(task, 0);
        _ = task.ContinueWith(
            t =>
            {
                _runs.TryRemove(t, out _);
                _latestRunByEntry.TryRemove(new KeyValuePair<string, Task>(idInLbs, t));
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private async Task WaitForRunsAsync()
    {
        while (!_runs.IsEmpty)
        {
            await Task.WhenAll(_runs.Keys).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private async Task ReleaseQuietlyAsync(RecoverableStreamClient client, StreamLease lease)
    {
        try
        {
            await lease.ReleaseAsync(CancellationToken.None).ConfigureAwait(false);
            Log.ReleasedAtShutdown(Logger, lease.DataStreamName, lease.IdInLbs);
        }
        catch (RecoverableStreamsException ex)
        {
            // DoneAsync hands it over with the session; failing that, its lease expires.
            Log.StopFailed(Logger, ex);
        }
    }

    private async Task StopAcquiringAsync(RecoverableStreamClient client)
    {
        try
        {
            await client.StopAcquiringAsync(CancellationToken.None).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Stopping must go on; at worst a stream acquired now is handed over by DoneAsync.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.StopFailed(Logger, ex);
        }
    }

    private async Task StopClientAsync(RecoverableStreamClient? client)
    {
        if (client is null)
        {
            return;
        }

        try
        {
            await client.DoneAsync(CancellationToken.None).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Stopping must go on: the leases expire if the release failed.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.StopFailed(Logger, ex);
        }
    }
}
