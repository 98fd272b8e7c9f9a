using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using RecoverableStreams.Hosting.Diagnostics;

namespace RecoverableStreams.Hosting.Processing;

/// <summary>
/// One run of a stream on this worker, from the lease to its end: route, resolve the handler in a new scope, run it,
/// then complete, count a failure and release or dead-letter, or (cancelled) release for a peer. ("Session" is the
/// core's consumer session; this is the per-stream run.) The run is the single source of its lifecycle events: it
/// reports each step once to <see cref="StreamRunTelemetry"/>, which writes the logs, metrics, span and observer
/// events, and it ends in exactly one <see cref="StreamRunOutcome"/>. Any exception, wherever it is thrown (span,
/// routing, scope, handler resolution, the handler), ends the stream the way a handler failure does: a counted
/// attempt, a retry, then a dead letter.
/// </summary>
internal sealed class StreamRun(StreamRunDependencies deps, StreamLease lease, CancellationToken hostStopping)
{
    private Activity? _span;
    private int _attempt = 1;

    public async Task<StreamRunOutcome> RunAsync()
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(hostStopping, lease.OwnershipLost);
        try
        {
            StreamRunEvent end;
            try
            {
                end = await RunCoreAsync(cancel.Token).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // Anything the run itself throws ends the stream one defined way, never pins its slot.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Log.RunFailed(deps.Logger, lease.DataStreamName, lease.IdInLbs, ex);
                end = await OnFailureAsync(ex, cancel.Token).ConfigureAwait(false);
            }

            await ReportAsync(end).ConfigureAwait(false);
            return end.Outcome!.Value;
        }
#pragma warning disable CA1031 // Counting the failure failed too: give the stream back so that no slot stays pinned.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.RunFailed(deps.Logger, lease.DataStreamName, lease.IdInLbs, ex);
            return await ReleaseAfterFaultAsync().ConfigureAwait(false);
        }
        finally
        {
            _span?.Dispose();
        }
    }

    private async Task<StreamRunEvent> RunCoreAsync(CancellationToken token)
    {
        _span = deps.Hosting.DisableTracing ? null : HostingActivity.StartRun(lease, deps.Options, deps.Propagator);
        await ReportAsync(new StreamRunEvent(StreamRunEventKind.Acquired, lease)).ConfigureAwait(false);

        if (deps.HandOvers.IsHandedOver(lease.IdInLbs))
        {
            // Given back for a peer a moment ago and taken back by this worker first: give it back again.
            return await HandOverAsync("it was handed over to other consumers a moment ago", pause: true, token).ConfigureAwait(false);
        }

        var handlerType = deps.Router.Find(lease.DataStreamName);
        if (handlerType is null)
        {
            return await OnUnroutedAsync(token).ConfigureAwait(false);
        }

        _attempt = (int)Math.Min(int.MaxValue, await ReadFailedAttemptsAsync(token).ConfigureAwait(false) + 1);
        TimeSpan? failoverLatency = null;
        if (lease.Origin != LeaseOrigin.Assigned)
        {
            // Acquisition (Redis clock: the first deadline minus the lease duration) to handler start (local clock).
            failoverLatency = deps.Time.GetUtcNow() - (lease.ExpiresAt - deps.Options.LeaseDuration);
        }

        await ReportAsync(new StreamRunEvent(StreamRunEventKind.HandlerStarting, lease) { Attempt = _attempt, Handler = handlerType.Name, Delay = failoverLatency }).ConfigureAwait(false);
        long? outageSince = null;
        var outageRetries = 0;
        while (true)
        {
            var handlerStarted = deps.Time.GetTimestamp();
            var failure = await RunHandlerAsync(handlerType, token).ConfigureAwait(false);
            await ReportAsync(new StreamRunEvent(StreamRunEventKind.HandlerReturned, lease) { Attempt = _attempt, Delay = deps.Time.GetElapsedTime(handlerStarted), Exception = failure }).ConfigureAwait(false);

            // Cancelled (host stopping or ownership lost): never complete and never count a failure, whatever the handler did.
            // OwnershipLost itself is read too: its callbacks (this linked token among them) run on the thread pool,
            // so a handler may see the loss (a refused checkpoint) before the linked token fires.
            if (token.IsCancellationRequested || lease.OwnershipLost.IsCancellationRequested)
            {
                return await OnCancelledAsync().ConfigureAwait(false);
            }

            if (failure is null)
            {
                return await CompleteAsync().ConfigureAwait(false);
            }

            if (!RedisOutage.IsOutage(failure))
            {
                return await OnFailureAsync(failure, token).ConfigureAwait(false);
            }

            // Redis, not the stream, failed: retry here, under the same lease, without spending one of the stream's
            // attempts (an outage must never dead-letter healthy streams), for at most the bound of its kind
            // (MaxOutageRetryDuration, or MaxConfigurationOutageRetryDuration for a refusal an operator must fix).
            outageSince ??= deps.Time.GetTimestamp();
            outageRetries++;
            await ReportAsync(new StreamRunEvent(StreamRunEventKind.AttemptFailed, lease) { Attempt = _attempt, Exception = failure, IsOutage = true }).ConfigureAwait(false);
            var outage = deps.Time.GetElapsedTime(outageSince.Value);
            var kind = RedisOutage.Classify(failure) ?? RedisOutageKind.Transient;
            var bound = RedisOutage.RetryBound(kind, deps.Hosting);
            if (outage >= bound)
            {
                Log.OutageRetriesExhausted(deps.Logger, lease.DataStreamName, lease.IdInLbs, outageRetries, kind, bound);
                return await HandOverAsync($"its handler hit a Redis outage ({kind}) for {outage.TotalSeconds:0.#} s ({outageRetries} tries; bound {bound})", pause: false, token).ConfigureAwait(false);
            }

            if (!await PauseAsync(RetryBackoff.For(outageRetries, deps.Hosting.HandlerRetry, deps.Options.HandlerStallTimeout, Random.Shared.NextDouble()), token).ConfigureAwait(false))
            {
                return await OnCancelledAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Runs the handler once in its own scope; returns what it threw, or <see langword="null"/>.</summary>
    private async Task<Exception?> RunHandlerAsync(Type handlerType, CancellationToken token)
    {
        var scope = deps.ScopeFactory.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            try
            {
                var handler = (IStreamWorkHandler)scope.ServiceProvider.GetRequiredService(handlerType);
                await handler.HandleAsync(new LeaseStreamWorkContext(lease, _attempt, token), token).ConfigureAwait(false);
                return null;
            }
#pragma warning disable CA1031 // The handler's exception is the failure being counted (or the outage being retried).
            catch (Exception ex)
#pragma warning restore CA1031
            {
                return ex;
            }
        }
    }

    /// <summary>Waits while holding (and heartbeating) the lease; <see langword="false"/> when cancelled meanwhile.</summary>
    private async Task<bool> PauseAsync(TimeSpan delay, CancellationToken token)
    {
        lease.Heartbeat();
        try
        {
            await Task.Delay(delay, deps.Time, token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        finally
        {
            lease.Heartbeat();
        }
    }

    /// <summary>
    /// No handler here matches the stream: a live peer that advertises a matching pattern gets it (a rolling deploy);
    /// only a stream no live consumer can handle is dead-lettered, with the reason <c>unroutable</c>.
    /// </summary>
    private async Task<StreamRunEvent> OnUnroutedAsync(CancellationToken token)
    {
        bool peerHandles;
        try
        {
            peerHandles = await deps.Routes.AnyLivePeerHandlesAsync(lease.DataStreamName).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is StackExchange.Redis.RedisException or StackExchange.Redis.RedisTimeoutException)
        {
            // Unknown: never dead-letter on a guess; give it back and decide again later.
            Log.RoutesUnavailable(deps.Logger, lease.DataStreamName, lease.IdInLbs, ex);
            peerHandles = true;
        }

        if (peerHandles)
        {
            return await HandOverAsync("no handler here matches it; a live consumer advertises one that does", pause: false, token).ConfigureAwait(false);
        }

        Log.NoHandler(deps.Logger, lease.DataStreamName, lease.IdInLbs);
        var reason = $"unroutable: No handler matches data stream '{lease.DataStreamName}' on any live consumer (none here, and no live peer advertises a matching pattern).";
        return await DeadLetterAsync(reason, attempt: null, exception: null).ConfigureAwait(false);
    }

    /// <summary>
    /// Gives the stream back for other consumers and remembers not to take it on here for a while. With
    /// <paramref name="pause"/>, the lease is held a moment first, so that this worker, taking it back at once, does
    /// not spin on it.
    /// </summary>
    private async Task<StreamRunEvent> HandOverAsync(string why, bool pause, CancellationToken token)
    {
        if (pause && !await PauseAsync(HandOverPause, token).ConfigureAwait(false))
        {
            return await OnCancelledAsync().ConfigureAwait(false);
        }

        if (!pause)
        {
            deps.HandOvers.Remember(lease.IdInLbs, HandOverWindow);
        }

        if (!await ReleaseAsync().ConfigureAwait(false))
        {
            return Ended(StreamRunOutcome.OwnershipLost);
        }

        return Ended(StreamRunOutcome.HandedOver) with { Reason = why };
    }

    /// <summary>How long a stream handed over is left to other consumers: a few leases, and the outage bound.</summary>
    private TimeSpan HandOverWindow =>
        deps.Options.LeaseDuration * 5 > deps.Hosting.MaxOutageRetryDuration ? deps.Options.LeaseDuration * 5 : deps.Hosting.MaxOutageRetryDuration;

    /// <summary>How long a stream taken back during its hand-over window is held before it is given back again.</summary>
    private TimeSpan HandOverPause => deps.Options.LeaseDuration / 2 < deps.Hosting.HandlerRetry.MaxDelay ? deps.Options.LeaseDuration / 2 : deps.Hosting.HandlerRetry.MaxDelay;

    private async Task<long> ReadFailedAttemptsAsync(CancellationToken token)
    {
        try
        {
            return await lease.GetFailedAttemptsAsync(token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RecoverableStreamsException or OperationCanceledException)
        {
            // Only the Attempt number shown to the handler depends on it; the count in Redis stays right.
            return 0;
        }
    }

    private async Task<StreamRunEvent> CompleteAsync()
    {
        var done = await WhileOwnedAsync("Completing", () => lease.CompleteAsync(CancellationToken.None)).ConfigureAwait(false);
        if (!done)
        {
            return await OnCancelledAsync().ConfigureAwait(false);
        }

        return Ended(StreamRunOutcome.Completed) with { Attempt = _attempt };
    }

    /// <summary>
    /// A failed attempt, whether the handler threw or the run around it did: counted in Redis, then a dead letter at
    /// the limit, else a back-off and a release for a retry.
    /// </summary>
    private async Task<StreamRunEvent> OnFailureAsync(Exception failure, CancellationToken token)
    {
        if (token.IsCancellationRequested || lease.OwnershipLost.IsCancellationRequested)
        {
            // As for a handler: once cancelled, nothing is counted.
            return await OnCancelledAsync().ConfigureAwait(false);
        }

        long failedAttempts = _attempt - 1;
        var counted = await WhileOwnedAsync("Counting a failed attempt", async () => failedAttempts = await lease.RecordFailedAttemptAsync(CancellationToken.None).ConfigureAwait(false)).ConfigureAwait(false);
        await ReportAsync(new StreamRunEvent(StreamRunEventKind.AttemptFailed, lease) { Attempt = _attempt, Exception = failure, FailedAttempts = failedAttempts }).ConfigureAwait(false);
        if (!counted)
        {
            return await OnCancelledAsync().ConfigureAwait(false);
        }

        if (failedAttempts >= deps.Hosting.MaxDeliveryAttempts)
        {
            var reason = $"{failure.GetType().FullName}: {failure.Message} (after {failedAttempts} failed attempt(s))";
            return await DeadLetterAsync(reason, _attempt, failure).ConfigureAwait(false);
        }

        // Back off while still holding the lease (the client keeps renewing it), then let any worker retry; a stop
        // or a loss during the pause ends in a release (or nothing) below, as for any cancelled run.
        var delay = RetryBackoff.For(Math.Max(1, failedAttempts), deps.Hosting.HandlerRetry, deps.Options.HandlerStallTimeout, Random.Shared.NextDouble());
        await PauseAsync(delay, token).ConfigureAwait(false);
        if (!await ReleaseAsync().ConfigureAwait(false))
        {
            return Ended(StreamRunOutcome.OwnershipLost);
        }

        return Ended(StreamRunOutcome.RetryScheduled) with
        {
            Attempt = _attempt,
            Delay = delay,
            Reason = $"retry after failed attempt {failedAttempts} of {deps.Hosting.MaxDeliveryAttempts}",
        };
    }

    private async Task<StreamRunEvent> DeadLetterAsync(string reason, int? attempt, Exception? exception)
    {
        var done = await WhileOwnedAsync("Dead-lettering", () => lease.DeadLetterAsync(reason, CancellationToken.None)).ConfigureAwait(false);
        if (!done)
        {
            return await OnCancelledAsync().ConfigureAwait(false);
        }

        return Ended(StreamRunOutcome.DeadLettered) with { Attempt = attempt, Reason = reason, Exception = exception };
    }

    private async Task<StreamRunEvent> OnCancelledAsync()
    {
        if (lease.IsOwned && hostStopping.IsCancellationRequested && await ReleaseAsync().ConfigureAwait(false))
        {
            return Ended(StreamRunOutcome.ReleasedAtShutdown) with { Reason = "the host is stopping" };
        }

        if (!lease.IsOwned)
        {
            return Ended(StreamRunOutcome.OwnershipLost) with { Reason = "ownership ended while the stream ran" };
        }

        // Still owned, only while stopping: the client's DoneAsync hands it to a peer (it closes the session).
        return Ended(StreamRunOutcome.ReleasedAtShutdown) with { Reason = "the host is stopping" };
    }

    /// <summary>
    /// The last resort when even counting a failure threw: give the stream back (uncounted) so that no slot stays
    /// pinned; failing that, the lease ends with the session or at shutdown.
    /// </summary>
    private async Task<StreamRunOutcome> ReleaseAfterFaultAsync()
    {
        try
        {
            var released = lease.IsOwned && await ReleaseAsync().ConfigureAwait(false);
            var end = Ended(released ? StreamRunOutcome.HandedOver : StreamRunOutcome.OwnershipLost) with { Reason = "the run failed unexpectedly" };
            await ReportAsync(end).ConfigureAwait(false);
            return end.Outcome!.Value;
        }
#pragma warning disable CA1031 // Logged above; nothing more can be done for this stream here.
        catch (Exception)
#pragma warning restore CA1031
        {
            return StreamRunOutcome.OwnershipLost;
        }
    }

    /// <summary>Releases the lease for a peer; <see langword="false"/> when it was no longer owned.</summary>
    private Task<bool> ReleaseAsync() => WhileOwnedAsync("Releasing", () => lease.ReleaseAsync(CancellationToken.None));

    /// <summary>
    /// Runs an ownership-checked write until it succeeds or the lease is gone. A Redis failure is retried: while the
    /// write has not happened the lease is still held and renewed, so giving up would leave the stream stuck here.
    /// Returns <see langword="false"/> when ownership ended first.
    /// </summary>
    private async Task<bool> WhileOwnedAsync(string operation, Func<Task> write)
    {
        while (true)
        {
            if (!lease.IsOwned)
            {
                return false;
            }

            try
            {
                await write().ConfigureAwait(false);
                return true;
            }
            catch (StreamOwnershipLostException)
            {
                return false;
            }
            catch (RecoverableStreamsException ex)
            {
                Log.FinishFailed(deps.Logger, operation, lease.DataStreamName, lease.IdInLbs, ex);
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), deps.Time, lease.OwnershipLost).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }
    }

    private StreamRunEvent Ended(StreamRunOutcome outcome) => new(StreamRunEventKind.Ended, lease) { Outcome = outcome };

    private Task ReportAsync(StreamRunEvent e) => deps.Telemetry.ReportAsync(e, _span, hostStopping);
}
