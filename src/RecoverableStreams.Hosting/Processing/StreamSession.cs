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

    private Activity? _activity;

    public async Task RunAsync()
    {
        using var activity = HostingActivity.StartSession(lease, deps.Options);
        _activity = activity;
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
            HostingActivity.Failed(activity, ex);
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

        var handlerType = deps.Router.Find(lease.DataStreamName);
        if (handlerType is null)
        {
            Log.NoHandler(deps.Logger, lease.DataStreamName, lease.IdInLbs);
            var reason = $"No handler matches data stream '{lease.DataStreamName}' and no default handler is registered.";
            return await DeadLetterAsync(reason, attempt: null, exception: null).ConfigureAwait(false);
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
        Exception? failure = null;
        var scope = deps.ScopeFactory.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            try
            {
                var handler = (IStreamWorkHandler)scope.ServiceProvider.GetRequiredService(handlerType);
                await handler.HandleAsync(new StreamWorkContext(lease, attempt, token), token).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // The handler's exception is the failure being counted.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                failure = ex;
            }
        }

        deps.Metrics.HandlerDuration.Record(deps.Time.GetElapsedTime(acquiredTimestamp).TotalSeconds, HostingMetrics.OriginTag(lease.Origin));
        deps.Metrics.LeaseHeadroom.Record(Math.Max(0, (lease.ExpiresAt - deps.Time.GetUtcNow()).TotalSeconds));

        // Cancelled (host stopping or ownership lost): never complete and never count a failure, whatever the handler did.
        if (token.IsCancellationRequested)
        {
            return await OnCancelledAsync().ConfigureAwait(false);
        }

        return failure is null
            ? await CompleteAsync(attempt).ConfigureAwait(false)
            : await OnFailureAsync(failure, attempt, token).ConfigureAwait(false);
    }

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
        var done = await WhileOwnedAsync("Completing", () => deps.Client.CompleteStreamAsync(lease.Info, CancellationToken.None)).ConfigureAwait(false);
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
        var counted = true;
        HostingActivity.Failed(_activity, failure);
        if (IsRedisUnavailable(failure))
        {
            // Redis, not the stream, failed: retry without spending one of the stream's attempts, so an outage can
            // never dead-letter healthy streams.
            Log.HandlerFailedOnRedis(deps.Logger, lease.DataStreamName, lease.IdInLbs, failure);
        }
        else
        {
            counted = await WhileOwnedAsync("Counting a failed attempt", async () => failedAttempts = await lease.RecordFailedAttemptAsync(CancellationToken.None).ConfigureAwait(false)).ConfigureAwait(false);
            Log.HandlerFailed(deps.Logger, lease.DataStreamName, lease.IdInLbs, failedAttempts, deps.Options.MaxDeliveryAttempts, failure);
        }

        deps.Metrics.Failed.Add(1, HostingMetrics.OriginTag(lease.Origin));
        await NotifyAsync(StreamLifecycleEventKind.Failed, attempt, exception: failure).ConfigureAwait(false);
        if (!counted)
        {
            return await OnCancelledAsync().ConfigureAwait(false);
        }

        if (failedAttempts >= deps.Options.MaxDeliveryAttempts && !IsRedisUnavailable(failure))
        {
            var reason = $"{failure.GetType().FullName}: {failure.Message} (after {failedAttempts} failed attempt(s))";
            return await DeadLetterAsync(reason, attempt, failure).ConfigureAwait(false);
        }

        // Back off while still holding the lease (the client keeps renewing it), then let any worker retry.
        var delay = RetryBackoff.For(Math.Max(1, failedAttempts), deps.Retry, deps.Options.HandlerStallTimeout, Random.Shared.NextDouble());
        lease.Heartbeat();
        try
        {
            await Task.Delay(delay, deps.Time, token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopping or lost: release (or nothing) below, as for any cancelled session.
        }

        lease.Heartbeat();
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
        var released = await WhileOwnedAsync("Releasing", () => deps.Client.ReleaseStreamAsync(lease.Info, CancellationToken.None)).ConfigureAwait(false);
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

    /// <summary>True when the failure is Redis being unreachable or too slow (anywhere in the exception chain).</summary>
    internal static bool IsRedisUnavailable(Exception failure)
    {
        for (Exception? e = failure; e is not null; e = e.InnerException)
        {
            if (e is StackExchange.Redis.RedisConnectionException or StackExchange.Redis.RedisTimeoutException)
            {
                return true;
            }
        }

        return false;
    }
}
