using System.Diagnostics;
using RecoverableStreams.Configuration;
using RecoverableStreams.Diagnostics;
using RecoverableStreams.Keys;
using RecoverableStreams.Parsing;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams;

/// <summary>
/// Announces data streams: one LBS entry per stream, in the Go library's wire format, so Go, Python and .NET producers
/// are interchangeable. Also wakes idle consumers at once, where keyspace notifications are off. When a trace is active
/// (a listener of <see cref="CoreDiagnostics.ActivitySourceName"/>, or any current <see cref="System.Diagnostics.Activity"/>),
/// the entry's <c>Info</c> carries its context as the app's <see cref="DistributedContextPropagator"/> writes it (by
/// default W3C, under <see cref="CoreDiagnostics.TraceParentInfoKey"/>).
/// </summary>
public sealed class StreamPublisher : IStreamPublisher
{
    private readonly IConnectionMultiplexer _redis;
    private readonly IDatabase _db;
    private readonly PartitionLayout _layout;
    private readonly RecoverableStreamOptions _options;
    private readonly DistributedContextPropagator? _propagator;

    /// <summary>Creates a publisher for the service named in <paramref name="options"/>.</summary>
    /// <param name="redis">The connection.</param>
    /// <param name="options">The same options the consumers use (service name, key overrides, database, limits).</param>
    /// <param name="propagator">
    /// Writes the trace context and baggage into the entry's <c>Info</c> (pass the app's, from DI: the hosting package
    /// does); <see cref="DistributedContextPropagator.Current"/> when <see langword="null"/>.
    /// </param>
    /// <exception cref="ArgumentException">The options are invalid; the message names each problem.</exception>
    public StreamPublisher(IConnectionMultiplexer redis, RecoverableStreamOptions options, DistributedContextPropagator? propagator = null)
    {
        ArgumentNullException.ThrowIfNull(redis);
        RecoverableStreamOptionsValidator.ThrowIfInvalid(options);
        _redis = redis;
        _options = options;
        _propagator = propagator;
        _db = redis.GetDatabase(options.Database);
        _layout = PartitionLayout.For(options);
    }

    /// <summary>
    /// Announces a data stream to the consumers, in the LBS stream of its partition (with
    /// <see cref="RecoverableStreamOptions.Partitions"/> &gt; 1), at most once while it is live: when an announcement
    /// of the same name has not been completed or dead-lettered yet, nothing is written and its id is returned (so a
    /// producer may retry after a lost reply). Checked and written in one script, so racing publishers cannot both add.
    /// </summary>
    /// <param name="dataStreamName">The Redis key of the data stream.</param>
    /// <param name="info">Free-form information; consumers receive it as <see cref="StreamNotification.AdditionalInfo"/>.</param>
    /// <param name="cancellationToken">Cancels before the entry is written.</param>
    /// <returns>
    /// The stream's <see cref="LbsInfo.IdInLbs"/>: the id of its live LBS entry (new, or the existing one), prefixed
    /// with <c>&lt;partition&gt;:</c> when there is more than one partition.
    /// </returns>
    /// <exception cref="ArgumentException">The name is empty or too long, or the payload is over the configured limits.</exception>
    /// <exception cref="RecoverableStreamsException">Redis failed; the cause is the inner exception.</exception>
    public async Task<string> AddStreamAsync(string dataStreamName, IDictionary<string, object?>? info = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dataStreamName);
        if (dataStreamName.Length > _options.MaxDataStreamNameLength)
        {
            throw new ArgumentException($"The data stream name has {dataStreamName.Length} characters, more than MaxDataStreamNameLength ({_options.MaxDataStreamNameLength}).", nameof(dataStreamName));
        }

        var partition = _layout.PartitionOf(dataStreamName);
        var keys = _layout[partition];
        using var activity = PublishTracing.StartSend(keys.Lbs, dataStreamName);
        var payload = LbsEntryParser.Serialize(dataStreamName, PublishTracing.Inject(info, activity ?? Activity.Current, _propagator));
        var check = new LbsEntryParser(_options).ParsePayload(System.Text.Encoding.UTF8.GetBytes(payload));
        if (!check.IsValid)
        {
            // Refuse here what consumers would dead-letter: the producer learns at once.
            throw new ArgumentException("The stream cannot be announced: " + check.Error + ".", nameof(info));
        }

        cancellationToken.ThrowIfCancellationRequested();
        string id;
        bool added;
        try
        {
            (id, added) = await new StreamScripts(_db, keys).AddStreamAsync(dataStreamName, LbsInputMessage.FieldName, payload).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
        {
            activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, ex.Message);
            activity?.SetTag("error.type", ex.GetType().FullName);
            throw new RecoverableStreamsException("Announcing the stream failed: " + ex.Message, ex);
        }

        activity?.SetTag("messaging.message.id", (string?)id);
        if (!added)
        {
            return _layout.IdOf(partition, id);
        }

        try
        {
            // The stream is announced once the entry is written. The wake-up is best effort (consumers also poll):
            // waiting for it, or failing on it, would tell a retrying producer to announce the stream a second time.
            await _redis.GetSubscriber().PublishAsync(RedisChannel.Literal(keys.Events), "added", CommandFlags.FireAndForget).ConfigureAwait(false);
        }
        catch (RedisException)
        {
            // Not sent: consumers find the entry at their next poll.
        }

        return _layout.IdOf(partition, id);
    }
}
