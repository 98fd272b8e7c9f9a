using RecoverableStreams.Configuration;
using RecoverableStreams.Keys;
using RecoverableStreams.Parsing;
using RecoverableStreams.Scripts;
using StackExchange.Redis;

namespace RecoverableStreams;

/// <summary>
/// Announces data streams: one LBS entry per stream, in the Go library's wire format, so Go, Python and .NET producers
/// are interchangeable. Also wakes idle consumers at once, where keyspace notifications are off.
/// </summary>
public sealed class StreamPublisher
{
    private readonly IConnectionMultiplexer _redis;
    private readonly IDatabase _db;
    private readonly PartitionLayout _layout;
    private readonly RecoverableStreamOptions _options;

    /// <summary>Creates a publisher for the service named in <paramref name="options"/>.</summary>
    /// <param name="redis">The connection.</param>
    /// <param name="options">The same options the consumers use (service name, key overrides, database, limits).</param>
    /// <exception cref="ArgumentException">The options are invalid; the message names each problem.</exception>
    public StreamPublisher(IConnectionMultiplexer redis, RecoverableStreamOptions options)
    {
        ArgumentNullException.ThrowIfNull(redis);
        RecoverableStreamOptionsValidator.ThrowIfInvalid(options);
        _redis = redis;
        _options = options;
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

        var payload = LbsEntryParser.Serialize(dataStreamName, info);
        var check = new LbsEntryParser(_options).ParsePayload(System.Text.Encoding.UTF8.GetBytes(payload));
        if (!check.IsValid)
        {
            // Refuse here what consumers would dead-letter: the producer learns at once.
            throw new ArgumentException("The stream cannot be announced: " + check.Error + ".", nameof(info));
        }

        cancellationToken.ThrowIfCancellationRequested();
        var partition = _layout.PartitionOf(dataStreamName);
        var keys = _layout[partition];
        string id;
        bool added;
        try
        {
            (id, added) = await new StreamScripts(_db, keys).AddStreamAsync(dataStreamName, LbsInputMessage.FieldName, payload).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
        {
            throw new RecoverableStreamsException("Announcing the stream failed: " + ex.Message, ex);
        }

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
