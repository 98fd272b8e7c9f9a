namespace RecoverableStreams;

/// <summary>
/// Announces data streams to a service's consumers; <see cref="StreamPublisher"/> is the implementation. Depend on this
/// interface (registered by <c>AddRecoverableStreamPublisher()</c> in the hosting package) to fake it in tests.
/// </summary>
public interface IStreamPublisher
{
    /// <summary>Announces a data stream to the consumers.</summary>
    /// <param name="dataStreamName">The Redis key of the data stream.</param>
    /// <param name="info">Free-form information; consumers receive it as <see cref="StreamNotification.AdditionalInfo"/>.</param>
    /// <param name="cancellationToken">Cancels before the entry is written.</param>
    /// <returns>The id of the new LBS entry: the stream's <see cref="LbsInfo.IdInLbs"/>.</returns>
    Task<string> AddStreamAsync(string dataStreamName, IDictionary<string, object?>? info = null, CancellationToken cancellationToken = default);
}
