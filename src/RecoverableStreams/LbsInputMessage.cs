using System.Text.Json.Serialization;

namespace RecoverableStreams;

/// <summary>
/// The payload of an LBS entry, stored as JSON in its <c>lbs-input</c> field. This is the wire format of the Go library
/// redis-stream-client-go: <c>{"DataStreamName":"&lt;key&gt;","Info":{...}}</c>.
/// </summary>
public sealed class LbsInputMessage
{
    /// <summary>The name of the LBS entry's field that carries the JSON payload.</summary>
    public const string FieldName = "lbs-input";

    /// <summary>The Redis key of the data stream to work on.</summary>
    [JsonPropertyName("DataStreamName")]
    public required string DataStreamName { get; init; }

    /// <summary>Free-form producer information, delivered to the owner as <see cref="StreamNotification.AdditionalInfo"/>.</summary>
    [JsonPropertyName("Info")]
    public IDictionary<string, object?>? Info { get; init; }
}
