using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RecoverableStreams.Assignment;
using RecoverableStreams.Configuration;
using RecoverableStreams.Diagnostics;
using RecoverableStreams.Keys;
using RecoverableStreams.Rebalancing;
using RecoverableStreams.Leasing;
using RecoverableStreams.Notifications;
using RecoverableStreams.Recovery;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams;

/// <summary>
/// A consumer with exclusive, recoverable ownership of a service's data streams. See <see cref="IRecoverableStreamClient"/>.
/// </summary>
/// <remarks>
/// Start it with <see cref="InitAsync"/>, read the notification channel, and call <see cref="CompleteStreamAsync(string, CancellationToken)"/>
/// when a stream is finished. Stop it with <see cref="DoneAsync"/> or <see cref="DisposeAsync"/>: its unfinished
/// streams go to peers at once.
/// </remarks>
public sealed class RecoverableStreamClient : IRecoverableStreamClient, IAsyncDisposable
{
    private readonly ClientContext _context;
    private readonly LeaseOperations _leases;
    private readonly ConsumerSession _session;

    /// <summary>The failover path's claim work ahead of the renewals: the schedulers draw on it, the session's renewals size it.</summary>
    private readonly ClaimCallBudget _claimCalls;
    private readonly RedisEventListener _listener;
    private readonly KeyspaceConfigurator _keyspace;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lifecycle = new();
    private Task? _init;
    private Task? _done;
    private Task[] _loops = [];

    /// <summary>Creates a consumer. Nothing touches Redis before <see cref="InitAsync"/>.</summary>
    /// <param name="redis">The connection; keep one per process. CONFIG needs <c>allowAdmin=true</c> (see <see cref="RecoverableStreamOptions.KeyspaceNotifications"/>).</param>
    /// <param name="options">The settings.</param>
    /// <param name="loggerFactory">Where logs go; none when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <param name="meterFactory">
    /// Creates the meter <see cref="CoreDiagnostics.MeterName"/> (pass the host's, from DI: the hosting package does);
    /// when <see langword="null"/>, the client creates its own and disposes it when it stops.
    /// </param>
    /// <exception cref="ArgumentException">The options are invalid; the message names each problem.</exception>
    public RecoverableStreamClient(IConnectionMultiplexer redis, RecoverableStreamOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null, IMeterFactory? meterFactory = null)
        : this(redis, options, loggerFactory, timeProvider, meterFactory, recordMetrics: true)
    {
    }

    /// <summary>Creates a consumer; <paramref name="recordMetrics"/> <see langword="false"/> records nothing (the hosting package's <c>DisableMetrics</c>).</summary>
    internal RecoverableStreamClient(IConnectionMultiplexer redis, RecoverableStreamOptions options, ILoggerFactory? loggerFactory, TimeProvider? timeProvider, IMeterFactory? meterFactory, bool recordMetrics)
    {
        ArgumentNullException.ThrowIfNull(redis);
        RecoverableStreamOptionsValidator.ThrowIfInvalid(options);
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<RecoverableStreamClient>();
        _context = new ClientContext(
            redis,
            options,
            logger,
            timeProvider ?? TimeProvider.System,
            ConsumerIdentity.Resolve(options.ConsumerId),
            ConsumerIdentity.NewInstanceId(),
            new CoreMetrics(meterFactory, recordMetrics),
            _stopping.Token);
        _leases = new LeaseOperations(_context);
        _claimCalls = new ClaimCallBudget(_context.RenewInterval);
        _session = _context.CreateSession(_leases, _claimCalls);
        _listener = new RedisEventListener(_context, _leases);
        _keyspace = new KeyspaceConfigurator(_context);
    }

    /// <inheritdoc />
    public string ConsumerId => _context.ConsumerId;

    /// <summary>The streams this consumer owns now.</summary>
    public IReadOnlyList<StreamLease> OwnedStreams => _context.Registry.Snapshot();

    /// <summary>The watcher of data streams that handlers wait on, for tests and benchmarks.</summary>
    internal Checkpoints.DataStreamWatcher DataStreams => _context.DataStreams;

    /// <summary>Pages of the pending list the reconciliation read, over all partitions (for tests).</summary>
    internal long PendingPagesRead => _context.Partitions.Sum(p => p.PendingPagesRead);

    /// <summary>The live rebalancer, when rebalancing is on (for tests and benchmarks).</summary>
    internal Rebalancer? Rebalancer { get; private set; }

    /// <summary><see langword="true"/> between a successful <see cref="InitAsync"/> and <see cref="DoneAsync"/> (or a fatal error).</summary>
    public bool IsRunning => _init is { IsCompletedSuccessfully: true } && !_stopping.IsCancellationRequested && !_context.Notifications.IsCompleted;

    /// <inheritdoc />
    public async Task<ChannelReader<StreamNotification>> InitAsync(CancellationToken cancellationToken = default)
    {
        Task init;
        lock (_lifecycle)
        {
            ObjectDisposedException.ThrowIf(_done is not null, this);
            if (_init is null || _init.IsFaulted || _init.IsCanceled)
            {
                _init = StartAsync();
            }

            init = _init;
        }

        await init.WaitAsync(cancellationToken).ConfigureAwait(false);
        return _context.Notifications.Reader;
    }

    /// <inheritdoc />
    public async Task<StreamLease> ClaimAsync(LbsInfo info, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(info);
        ArgumentException.ThrowIfNullOrEmpty(info.IdInLbs);
        EnsureRunning();

        using (await _context.Registry.EnterAcquisitionAsync(cancellationToken).ConfigureAwait(false))
        {
            if (_context.Registry.TryGet(info.IdInLbs, out var owned))
            {
                return owned;
            }

            if (_context.Registry.AcquisitionStopped)
            {
                throw new InvalidOperationException("The client has stopped acquiring streams (StopAcquiringAsync): it is shutting down.");
            }

            if (_context.Registry.FreeSlots == 0)
            {
                throw new RecoverableStreamsException($"This consumer already owns MaxConcurrentStreams ({_context.Registry.Capacity}) streams; complete or release one first.");
            }

            if (!_context.TryResolve(info.IdInLbs, out var partition, out var entryId))
            {
                throw new ArgumentException($"'{info.IdInLbs}' is not an id of this service's {_context.Layout.Count} partitions (with several partitions, ids are '<partition>:<entry id>').", nameof(info));
            }

            cancellationToken.ThrowIfCancellationRequested();
            if (!_session.TryGetLive(out var session))
            {
                throw new RecoverableStreamsException($"Claiming '{info.DataStreamName}' ({info.IdInLbs}) failed: this consumer's session ended and a new one is being opened; try again.");
            }

            ClaimReply reply;
            try
            {
                // Sent without the caller's token: a claim that reached Redis must be registered, or its grant would leak.
                reply = await partition.Scripts.ClaimIdsAsync(ConsumerId, session.Id, [entryId]).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
            {
                throw new RecoverableStreamsException($"Claiming '{info.DataStreamName}' ({info.IdInLbs}) failed: {ex.Message}", ex);
            }

            if (!reply.SessionLive)
            {
                _session.End(session, "the session expired in Redis");
                throw new RecoverableStreamsException($"Claiming '{info.DataStreamName}' ({info.IdInLbs}) failed: this consumer's session expired in Redis; a new one is being opened; try again.");
            }

            var result = reply.Results[0];
            switch (result.Status)
            {
                case ClaimStatus.Owned:
                    // The record is "consumerId|random|token": the consumer id is all before the last two bars.
                    var owner = OwnerOf(result.Holder);
                    throw new StreamAlreadyClaimedException($"'{info.DataStreamName}' ({info.IdInLbs}) is owned by {owner}.") { OwnerConsumerId = owner };
                case ClaimStatus.NotFound:
                    throw new StreamNotFoundException($"'{info.DataStreamName}' ({info.IdInLbs}) no longer needs an owner: it was completed or dead-lettered.");
            }

            var origin = string.Equals(result.Entry!.PreviousConsumer, ConsumerId, StringComparison.Ordinal) ? LeaseOrigin.Recovered : LeaseOrigin.Claimed;
            return await _leases.AcceptAsync(result.Entry, origin, session, partition).ConfigureAwait(false)
                ?? throw new StreamNotFoundException($"'{info.DataStreamName}' ({info.IdInLbs}) was malformed and has been dead-lettered.");
        }
    }

    /// <inheritdoc />
    public Task CompleteStreamAsync(string dataStreamName, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(dataStreamName);
        return _leases.CompleteAsync(_context.Registry.FindByDataStream(dataStreamName), cancellationToken);
    }

    /// <inheritdoc />
    public Task CompleteStreamAsync(LbsInfo info, CancellationToken cancellationToken = default) =>
        _leases.CompleteAsync(Owned(info), cancellationToken);

    /// <inheritdoc />
    public Task ReleaseStreamAsync(string dataStreamName, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(dataStreamName);
        cancellationToken.ThrowIfCancellationRequested();
        return _leases.ReleaseAsync([_context.Registry.FindByDataStream(dataStreamName)], LeaseEndReason.Released);
    }

    /// <inheritdoc />
    public Task ReleaseStreamAsync(LbsInfo info, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return _leases.ReleaseAsync([Owned(info)], LeaseEndReason.Released);
    }

    /// <summary>
    /// The first step of a graceful shutdown: stops reading new streams and claiming expired or released ones, while
    /// the owned streams stay owned and renewed (their handlers can still checkpoint). When the returned task
    /// completes, no acquisition is in flight. Call <see cref="DoneAsync"/> afterwards to release what is unfinished.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting for an acquisition in flight.</param>
    /// <returns>A task that completes when no more streams will be acquired.</returns>
    public Task StopAcquiringAsync(CancellationToken cancellationToken = default) =>
        _context.Registry.StopAcquisitionAsync(cancellationToken);

    /// <inheritdoc />
    public Task DoneAsync(CancellationToken cancellationToken = default)
    {
        Task done;
        lock (_lifecycle)
        {
            _done ??= StopAsync(releaseOwned: true);
            done = _done;
        }

        return done.WaitAsync(cancellationToken);
    }

    /// <summary>Same as <see cref="DoneAsync"/>.</summary>
    /// <returns>A task that completes when the consumer has stopped.</returns>
    public async ValueTask DisposeAsync() => await DoneAsync().ConfigureAwait(false);

    /// <summary>
    /// Stops like a crash: the loops end and nothing is released, so the leases expire in Redis. For tests and
    /// benchmarks that simulate a dead process inside one.
    /// </summary>
    internal Task CrashAsync()
    {
        lock (_lifecycle)
        {
            _done ??= StopAsync(releaseOwned: false);
            return _done;
        }
    }

    private async Task StartAsync()
    {
        await Task.WhenAll(_context.Partitions.Select(p => CreateGroupAsync(p.Keys))).ConfigureAwait(false);
        // A Go-library consumer on the same group would own streams beside us under another lease model.
        await Task.WhenAll(_context.Partitions.Select(p => GoConsumerDetector.ThrowIfPresentAsync(_context.Database, p.Keys))).ConfigureAwait(false);

        await _keyspace.EnsureAsync().ConfigureAwait(false);
        _context.DataStreams.CheckDeliveryNow();
        try
        {
            await _listener.StartAsync().ConfigureAwait(false);
            // Open the session first, so peers count this consumer in their fair shares from the start.
            await _session.StepAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
        {
            throw new RecoverableStreamsException("Starting the consumer failed: " + ex.Message, ex);
        }

        _context.Redis.ConnectionRestored += OnConnectionRestored;
        // Rebalancing needs AutoClaim: without it the application decides what to claim.
        var rebalancing = _context.Options.AutoClaim && _context.Options.Rebalance;
        var fairShare = rebalancing ? new ServiceLoad(_context) : null;
        // One reader, scheduler and reconciler per partition; the reconciler's first pass runs in the background:
        // InitAsync returns at once however large the backlog.
        var loops = new List<Task> { Task.Run(_session.RunAsync) };
        foreach (var partition in _context.Partitions)
        {
            loops.Add(Task.Run(new LbsReader(_context, partition, _leases).RunAsync));
            loops.Add(Task.Run(new DeadlineScheduler(_context, partition, _leases, fairShare, _claimCalls).RunAsync));
            loops.Add(Task.Run(new PendingReconciler(_context, partition).RunAsync));
        }

        if (fairShare is not null)
        {
            Rebalancer = new Rebalancer(_context, _leases, fairShare);
            loops.Add(Task.Run(Rebalancer.RunAsync));
        }

        _loops = [.. loops];
        Log.ClientStarted(_context.Logger, ConsumerId, _context.Layout.BaseLbsKey, _context.Layout[0].Group, _context.Registry.Capacity, _context.LeaseDuration);
    }

    private async Task StopAsync(bool releaseOwned)
    {
        _context.Redis.ConnectionRestored -= OnConnectionRestored;
        await _stopping.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_loops).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

        // Every lease ends here first (its handler stops); then the session is closed in Redis, dead at once where it
        // still owns streams, and peers take them as a dead session's with one wake-up per partition (LeaveAsync).
        var owned = _context.Registry.Snapshot();
        var ended = releaseOwned ? owned.Where(l => _leases.End(l, LeaseEndReason.Shutdown)).ToArray() : [];
        foreach (var lease in _context.Registry.Snapshot())
        {
            _leases.End(lease, LeaseEndReason.Shutdown);
        }

        if (_init is { IsCompletedSuccessfully: true })
        {
            if (releaseOwned)
            {
                try
                {
                    await _session.LeaveAsync(ended).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
                {
                    Log.ShutdownReleaseFailed(_context.Logger, ended.Length, ex);
                }
            }

            try
            {
                await _listener.StopAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
            {
                Log.UnsubscribeFailed(_context.Logger, ex);
            }
        }

        await _context.DataStreams.StopAsync().ConfigureAwait(false);
        _session.Dispose();
        _context.Notifications.Complete();
        Log.ClientStopped(_context.Logger, ConsumerId, releaseOwned ? owned.Count : 0);

        // Last: every lease has ended (and been counted) by now.
        _context.Metrics.Dispose();
    }

    private async Task CreateGroupAsync(StreamKeys keys)
    {
        try
        {
            await _context.Database.StreamCreateConsumerGroupAsync(keys.Lbs, keys.Group, "0", createStream: true).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.Contains("BUSYGROUP", StringComparison.Ordinal))
        {
            // The group exists already: the normal case for every consumer but the first.
        }
        catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
        {
            throw new RecoverableStreamsException($"Cannot create consumer group '{keys.Group}' on '{keys.Lbs}': {ex.Message}", ex);
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        Log.ConnectionRestored(_context.Logger, e.EndPoint?.ToString() ?? "");
        _ = EnsureAfterReconnectAsync();
    }

    private async Task EnsureAfterReconnectAsync()
    {
        try
        {
            // A restart that lost the data also lost the flags; the group comes back with the next read.
            await _keyspace.EnsureAsync().ConfigureAwait(false);
        _context.DataStreams.CheckDeliveryNow();
            _context.CapacityFreed();
        }
        catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
        {
            Log.EnsureAfterReconnectFailed(_context.Logger, ex);
        }
    }

    private StreamLease Owned(LbsInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        return _context.Registry.TryGet(info.IdInLbs, out var lease)
            ? lease
            : throw new StreamOwnershipLostException($"This consumer does not own '{info.DataStreamName}' ({info.IdInLbs}) (never owned, completed, released or lost).");
    }

    private static string? OwnerOf(string? record)
    {
        if (record is null)
        {
            return null;
        }

        var tokenBar = record.LastIndexOf('|');
        var sessionBar = tokenBar > 0 ? record.LastIndexOf('|', tokenBar - 1) : -1;
        return sessionBar > 0 ? record[..sessionBar] : record;
    }

    private void EnsureRunning()
    {
        if (!IsRunning)
        {
            throw new InvalidOperationException("The client is not running: call InitAsync first, and not after DoneAsync.");
        }
    }
}
