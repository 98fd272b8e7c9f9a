using System.Threading.Channels;

namespace RecoverableStreams;

/// <summary>A consumer of a service's streams: it owns some, renews their leases, and takes over those others lose.</summary>
public interface IRecoverableStreamClient
{
    /// <summary>This consumer's name in the consumer group.</summary>
    string ConsumerId { get; }

    /// <summary>
    /// Starts the consumer (idempotent): creates the group, configures or verifies keyspace notifications, starts the
    /// reader, the listener, the renewer, the scheduler and the reconciler.
    /// </summary>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The notification channel; it completes after <see cref="DoneAsync"/>.</returns>
    Task<ChannelReader<StreamNotification>> InitAsync(CancellationToken cancellationToken = default);

    /// <summary>Takes over a stream whose lease expired or was released.</summary>
    /// <param name="info">The stream, as announced by a <see cref="StreamNotificationType.StreamExpired"/> or <see cref="StreamNotificationType.StreamReleased"/> notification.</param>
    /// <param name="cancellationToken">Cancels before the claim is sent. The lease, once obtained, is renewed whatever this token does.</param>
    /// <returns>The lease now held.</returns>
    /// <exception cref="StreamAlreadyClaimedException">Another consumer holds the stream.</exception>
    /// <exception cref="StreamNotFoundException">The stream was completed or dead-lettered.</exception>
    Task<StreamLease> ClaimAsync(LbsInfo info, CancellationToken cancellationToken = default);

    /// <summary>Completes the stream this consumer owns under that name: the LBS entry, its lease and checkpoint go, atomically.</summary>
    /// <param name="dataStreamName">The data stream.</param>
    /// <param name="cancellationToken">Cancels before the request is sent.</param>
    /// <returns>A task that completes when the stream is completed.</returns>
    /// <exception cref="StreamOwnershipLostException">This consumer does not own that stream (any more).</exception>
    Task CompleteStreamAsync(string dataStreamName, CancellationToken cancellationToken = default);

    /// <summary>Completes one LBS entry (use this overload when the same data stream was announced twice).</summary>
    /// <param name="info">The stream and its LBS entry.</param>
    /// <param name="cancellationToken">Cancels before the request is sent.</param>
    /// <returns>A task that completes when the stream is completed.</returns>
    /// <exception cref="StreamOwnershipLostException">This consumer does not own that entry (any more).</exception>
    Task CompleteStreamAsync(LbsInfo info, CancellationToken cancellationToken = default);

    /// <summary>Gives a stream back unfinished; peers are told at once and one of them takes it over.</summary>
    /// <param name="dataStreamName">The data stream.</param>
    /// <param name="cancellationToken">Cancels before the request is sent.</param>
    /// <returns>A task that completes when the stream is released.</returns>
    /// <exception cref="StreamOwnershipLostException">This consumer does not own that stream (any more).</exception>
    Task ReleaseStreamAsync(string dataStreamName, CancellationToken cancellationToken = default);

    /// <summary>Gives one LBS entry back unfinished.</summary>
    /// <param name="info">The stream and its LBS entry.</param>
    /// <param name="cancellationToken">Cancels before the request is sent.</param>
    /// <returns>A task that completes when the stream is released.</returns>
    /// <exception cref="StreamOwnershipLostException">This consumer does not own that entry (any more).</exception>
    Task ReleaseStreamAsync(LbsInfo info, CancellationToken cancellationToken = default);

    /// <summary>
    /// Stops the consumer: stops reading and claiming, releases (never completes) every owned stream so peers take
    /// them at once, and completes the notification channel. Safe to call twice and before <see cref="InitAsync"/>.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting for the background loops.</param>
    /// <returns>A task that completes when the consumer has stopped.</returns>
    Task DoneAsync(CancellationToken cancellationToken = default);
}
