using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using RecoverableStreams.Hosting.Diagnostics;

namespace RecoverableStreams.Hosting.Processing;

/// <summary>
/// One stream on this worker, from the lease to its end: route, resolve the handler in a new scope, run it, then
/// complete, count a failure and release or dead-letter, or (cancelled) release for a peer.
/// </summary>
internal sealed class StreamSession(SessionDependencies deps, StreamLease lease, CancellationToken hostStopping)
{
    private const string OutcomeTag = "recoverable_streams.outcome";

    public async Task RunAsync()
    {
        using var activity = HostingActivity.StartSession(lease);
        var outcome = "error";
        try
        {
            outcome = await RunCoreAsync(activity).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // A session must never bring the worker down; the lease ends by expiry or at shutdown.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.SessionFailed(deps.Logger, lease.DataStreamName, lease.IdInLbs, ex);
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
        }
        finally
        {
            activity?.SetTag(OutcomeTag, outcome);
        }
    }

    private async Task<string> RunCoreAsync(Activity? activity)
    {
        var acquiredTimestamp = deps.Time.GetTimestamp();
        await AnnounceAcquisitionAsync().ConfigureAwait(false);

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(hostStopping, lease.OwnershipLost);
        var token = cancel.Token;

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

        var attempt = (int)Math.Min(int.MaxValue, await ReadFailedAttemptsAsync(token).ConfigureAwait(false) + 1);
        activity?.SetTag("recoverable_streams.attempt", attempt);
        activity?.SetTag("recoverable_streams.handler", handlerType.Name);
        if (lease.Origin != LeaseOrigin.Assigned)
        {
            // Acquisition (Redis clock: the first deadline minus the lease duration) to handler start (local clock).
            var acquiredAt = lease.ExpiresAt - deps.Options.LeaseDuration;
            var latency = deps.Time.GetUtcNow() - acquiredAt;
            deps.Metrics.FailoverLatency.Record(Math.Max(0, latency.TotalSeconds), HostingMetrics.OriginTag(lease.Origin));
        }

        Log.HandlerStarting(deps.Logger, lease.DataStreamName, lease.IdInLbs, handlerType.Name, attempt, lease.Origin, lease.FencingToken);
        long? outageSince = null;
        var outageRetries = 0;
        while (true)
        {
            var failure = await RunHandlerAsync(handlerType, attempt, token).ConfigureAwait(false);
            deps.Metrics.HandlerDuration.Record(deps.Time.GetElapsedTime(acquiredTimestamp).TotalSeconds, HostingMetrics.OriginTag(lease.Origin));
            deps.Metrics.LeaseHeadroom.Record(Math.Max(0, (lease.ExpiresAt - deps.Time.GetUtcNow()).TotalSeconds));

            // Cancelled (host stopping or ownership lost): never complete and never count a failure, whatever the handler did.
            // OwnershipLost itself is read too: its callbacks (this linked token among them) run on the thread pool,
            // so a handler may see the loss (a refused checkpoint) before the linked token fires.
            if (token.IsCancellationRequested || lease.OwnershipLost.IsCancellationRequested)
            {
                return await OnCancelledAsync().ConfigureAwait(false);
            }

            if (failure is null)
            {
                return await CompleteAsync(attempt).ConfigureAwait(false);
            }

            if (!RedisOutage.IsOutage(failure))
            {
                return await OnFailureAsync(failure, attempt, token).ConfigureAwait(false);
            }

            // Redis, not the stream, failed: retry here, under the same lease, without spending one of the stream's
            // attempts (an outage must never dead-letter healthy streams), for at most MaxOutageRetryDuration.
            outageSince ??= deps.Time.GetTimestamp();
            outageRetries++;
            Log.HandlerFailedOnRedis(deps.Logger, lease.DataStreamName, lease.IdInLbs, failure);
            deps.Metrics.Failed.Add(1, HostingMetrics.OriginTag(lease.Origin));
            await NotifyAsync(StreamLifecycleEventKind.Failed, attempt, exception: failure).ConfigureAwait(false);
            var outage = deps.Time.GetElapsedTime(outageSince.Value);
            if (outage >= deps.Options.MaxOutageRetryDuration)
            {
                Log.OutageRetriesExhausted(deps.Logger, lease.DataStreamName, lease.IdInLbs, outageRetries, deps.Options.MaxOutageRetryDuration);
                return await HandOverAsync($"its handler hit a Redis outage for {outage.TotalSeconds:0.#} s ({outageRetries} tries; MaxOutageRetryDuration {deps.Options.MaxOutageRetryDuration})", pause: false, token).ConfigureAwait(false);
            }

            if (!await PauseAsync(RetryBackoff.For(outageRetries, deps.Options), token).ConfigureAwait(false))
            {
                return await OnCancelledAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Runs the handler once in its own scope; returns what it threw, or <see langword="null"/>.</summary>
    private async Task<Exception?> RunHandlerAsync(Type handlerType, int attempt, CancellationToken token)
    {
        var scope = deps.ScopeFactory.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            try
            {
                var handler = (IStreamWorkHandler)scope.ServiceProvider.GetRequiredService(handlerType);
                await handler.HandleAsync(new StreamWorkContext(lease, attempt, token), token).ConfigureAwait(false);
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
    private async Task<string> OnUnroutedAsync(CancellationToken token)
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
    private async Task<string> HandOverAsync(string why, bool pause, CancellationToken token)
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
            return "lost";
        }

        Log.HandedOver(deps.Logger, lease.DataStreamName, lease.IdInLbs, why);
        await NotifyAsync(StreamLifecycleEventKind.Released, reason: "handed over to other consumers: " + why).ConfigureAwait(false);
        return "handed_over";
    }

    /// <summary>How long a stream handed over is left to other consumers: a few leases, and the outage bound.</summary>
    private TimeSpan HandOverWindow =>
        deps.Options.LeaseDuration * 5 > deps.Options.MaxOutageRetryDuration ? deps.Options.LeaseDuration * 5 : deps.Options.MaxOutageRetryDuration;

    /// <summary>How long a stream taken back during its hand-over window is held before it is given back again.</summary>
    private TimeSpan HandOverPause => deps.Options.LeaseDuration / 2 < RetryBackoff.Maximum ? deps.Options.LeaseDuration / 2 : RetryBackoff.Maximum;

    private async Task AnnounceAcquisitionAsync()
    {
        var kind = lease.Origin == LeaseOrigin.Assigned ? StreamLifecycleEventKind.Assigned : StreamLifecycleEventKind.Claimed;
        (kind == StreamLifecycleEventKind.Assigned ? deps.Metrics.Assigned : deps.Metrics.Claimed).Add(1, HostingMetrics.OriginTag(lease.Origin));
        await NotifyAsync(kind).ConfigureAwait(false);
    }

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

    private async Task<string> CompleteAsync(int attempt)
    {
        var done = await WhileOwnedAsync("Completing", () => lease.CompleteAsync(CancellationToken.None)).ConfigureAwait(false);
        if (!done)
        {
            return await OnCancelledAsync().ConfigureAwait(false);
        }

        deps.Metrics.Completed.Add(1, HostingMetrics.OriginTag(lease.Origin));
        Log.StreamCompleted(deps.Logger, lease.DataStreamName, lease.IdInLbs);
        await NotifyAsync(StreamLifecycleEventKind.Completed, attempt).ConfigureAwait(false);
        return "completed";
    }

    private async Task<string> OnFailureAsync(Exception failure, int attempt, CancellationToken token)
    {
        long failedAttempts = attempt - 1;
        var counted = await WhileOwnedAsync("Counting a failed attempt", async () => failedAttempts = await lease.RecordFailedAttemptAsync(CancellationToken.None).ConfigureAwait(false)).ConfigureAwait(false);
        Log.HandlerFailed(deps.Logger, lease.DataStreamName, lease.IdInLbs, failedAttempts, deps.Options.MaxDeliveryAttempts, failure);
        deps.Metrics.Failed.Add(1, HostingMetrics.OriginTag(lease.Origin));
        await NotifyAsync(StreamLifecycleEventKind.Failed, attempt, exception: failure).ConfigureAwait(false);
        if (!counted)
        {
            return await OnCancelledAsync().ConfigureAwait(false);
        }

        if (failedAttempts >= deps.Options.MaxDeliveryAttempts)
        {
            var reason = $"{failure.GetType().FullName}: {failure.Message} (after {failedAttempts} failed attempt(s))";
            return await DeadLetterAsync(reason, attempt, failure).ConfigureAwait(false);
        }

        // Back off while still holding the lease (the client keeps renewing it), then let any worker retry; a stop
        // or a loss during the pause ends in a release (or nothing) below, as for any cancelled session.
        var delay = RetryBackoff.For(Math.Max(1, failedAttempts), deps.Options);
        await PauseAsync(delay, token).ConfigureAwait(false);
        if (!await ReleaseAsync().ConfigureAwait(false))
        {
            return "lost";
        }

        Log.ReleasedForRetry(deps.Logger, lease.DataStreamName, lease.IdInLbs, delay);
        await NotifyAsync(StreamLifecycleEventKind.Released, attempt, reason: $"retry after failed attempt {failedAttempts} of {deps.Options.MaxDeliveryAttempts}").ConfigureAwait(false);
        return "released_for_retry";
    }

    private async Task<string> DeadLetterAsync(string reason, int? attempt, Exception? exception)
    {
        var done = await WhileOwnedAsync("Dead-lettering", () => lease.DeadLetterAsync(reason, CancellationToken.None)).ConfigureAwait(false);
        if (!done)
        {
            return await OnCancelledAsync().ConfigureAwait(false);
        }

        deps.Metrics.DeadLettered.Add(1, HostingMetrics.OriginTag(lease.Origin));
        Log.StreamDeadLettered(deps.Logger, lease.DataStreamName, lease.IdInLbs, reason);
        await NotifyAsync(StreamLifecycleEventKind.DeadLettered, attempt, reason, exception).ConfigureAwait(false);
        return "dead_lettered";
    }

    private async Task<string> OnCancelledAsync()
    {
        if (lease.IsOwned && hostStopping.IsCancellationRequested && await ReleaseAsync().ConfigureAwait(false))
        {
            Log.ReleasedAtShutdown(deps.Logger, lease.DataStreamName, lease.IdInLbs);
            await NotifyAsync(StreamLifecycleEventKind.Released, reason: "the host is stopping").ConfigureAwait(false);
            return "released";
        }

        if (!lease.IsOwned)
        {
            Log.LostWhileHandling(deps.Logger, lease.DataStreamName, lease.IdInLbs);
            return "lost";
        }

        return "cancelled";
    }

    /// <summary>Releases the lease for a peer; <see langword="false"/> when it was no longer owned.</summary>
    private async Task<bool> ReleaseAsync()
    {
        var released = await WhileOwnedAsync("Releasing", () => lease.ReleaseAsync(CancellationToken.None)).ConfigureAwait(false);
        if (released)
        {
            deps.Metrics.Released.Add(1, HostingMetrics.OriginTag(lease.Origin));
        }

        return released;
    }

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

    private Task NotifyAsync(StreamLifecycleEventKind kind, int? attempt = null, string? reason = null, Exception? exception = null) =>
        deps.Notifier.NotifyAsync(
            new StreamLifecycleEvent
            {
                Kind = kind,
                DataStreamName = lease.DataStreamName,
                IdInLbs = lease.IdInLbs,
                ConsumerId = lease.ConsumerId,
                FencingToken = lease.FencingToken,
                Origin = lease.Origin,
                Attempt = attempt,
                Reason = reason,
                Exception = exception,
            },
            hostStopping);
}
