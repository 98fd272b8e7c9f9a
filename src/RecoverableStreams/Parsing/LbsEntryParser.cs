using System.Text;
using System.Text.Json;
using StackExchange.Redis;

namespace RecoverableStreams.Parsing;

/// <summary>An LBS entry read as work (<see cref="DataStreamName"/> set) or rejected (<see cref="Error"/> set).</summary>
internal sealed record ParsedLbsEntry(string? DataStreamName, IReadOnlyDictionary<string, JsonElement>? Info, string? Error)
{
    public bool IsValid => Error is null;
}

/// <summary>
/// Reads the Go library's LBS entry format: field <c>lbs-input</c> holding <c>{"DataStreamName":..,"Info":{..}}</c>.
/// Property names match in any letter case (as Go's encoding/json does). Anything else yields an error that says
/// why; the entry is then dead-lettered, never retried.
/// </summary>
internal sealed class LbsEntryParser
{
    private readonly RecoverableStreamOptions _options;

    public LbsEntryParser(RecoverableStreamOptions options) => _options = options;

    public ParsedLbsEntry Parse(IReadOnlyList<KeyValuePair<string, RedisValue>> fields)
    {
        if (fields.Count > _options.MaxLbsEntryFields)
        {
            return Reject($"the entry has {fields.Count} fields, more than MaxLbsEntryFields ({_options.MaxLbsEntryFields})");
        }

        byte[]? payload = null;
        foreach (var field in fields)
        {
            if (string.Equals(field.Key, LbsInputMessage.FieldName, StringComparison.Ordinal))
            {
                payload = field.Value;
                break;
            }
        }

        if (payload is null)
        {
            return Reject($"the entry has no '{LbsInputMessage.FieldName}' field");
        }

        return ParsePayload(payload);
    }

    public ParsedLbsEntry ParsePayload(ReadOnlySpan<byte> payload)
    {
        if (payload.Length > _options.MaxLbsPayloadBytes)
        {
            return Reject($"the payload has {payload.Length} bytes, more than MaxLbsPayloadBytes ({_options.MaxLbsPayloadBytes})");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(payload.ToArray(), new JsonDocumentOptions { MaxDepth = _options.MaxInfoDepth });
        }
        catch (JsonException ex)
        {
            return Reject("the payload is not valid JSON within MaxInfoDepth (" + _options.MaxInfoDepth + "): " + ex.Message);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return Reject($"the payload is a JSON {root.ValueKind}, not an object");
            }

            if (!TryGetProperty(root, "DataStreamName", out var nameElement) || nameElement.ValueKind == JsonValueKind.Null)
            {
                return Reject("the payload has no DataStreamName");
            }

            if (nameElement.ValueKind != JsonValueKind.String)
            {
                return Reject($"DataStreamName is a JSON {nameElement.ValueKind}, not a string");
            }

            if (!TryGetString(nameElement, out var name))
            {
                return Reject("DataStreamName is not valid UTF-16 text");
            }

            if (string.IsNullOrWhiteSpace(name))
            {
                return Reject("DataStreamName is empty");
            }

            if (name.Length > _options.MaxDataStreamNameLength)
            {
                return Reject($"DataStreamName has {name.Length} characters, more than MaxDataStreamNameLength ({_options.MaxDataStreamNameLength})");
            }

            if (!TryGetProperty(root, "Info", out var infoElement) || infoElement.ValueKind == JsonValueKind.Null)
            {
                return new ParsedLbsEntry(name, null, null);
            }

            if (infoElement.ValueKind != JsonValueKind.Object)
            {
                return Reject($"Info is a JSON {infoElement.ValueKind}, not an object");
            }

            var info = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (var property in infoElement.EnumerateObject())
            {
                if (!TryGetName(property, out var propertyName))
                {
                    return Reject("Info has a property name that is not valid UTF-16 text");
                }

                // Clone: the values outlive the document.
                info[propertyName] = property.Value.Clone();
            }

            return new ParsedLbsEntry(name, info, null);
        }
    }

    /// <summary>Writes the payload exactly as the Go library does.</summary>
    public static string Serialize(string dataStreamName, IDictionary<string, object?>? info) =>
        JsonSerializer.Serialize(new LbsInputMessage { DataStreamName = dataStreamName, Info = info });

    private static bool TryGetProperty(JsonElement obj, string name, out JsonElement value)
    {
        foreach (var property in obj.EnumerateObject())
        {
            // A name that is not valid UTF-16 cannot be the one looked for.
            if (TryGetName(property, out var propertyName) && string.Equals(propertyName, name, StringComparison.OrdinalIgnoreCase))
            {
                value = property.Value;
                return true;
            }
        }

        value = default;
        return false;
    }

    // JSON may escape a lone surrogate ("\ud800"; Python's json.dumps writes them), which no .NET string can hold:
    // System.Text.Json then throws InvalidOperationException on reading it. Such an entry is rejected, never thrown on.
    private static bool TryGetString(JsonElement element, out string value)
    {
        try
        {
            value = element.GetString()!;
            return true;
        }
        catch (InvalidOperationException)
        {
            value = "";
            return false;
        }
    }

    private static bool TryGetName(JsonProperty property, out string name)
    {
        try
        {
            name = property.Name;
            return true;
        }
        catch (InvalidOperationException)
        {
            name = "";
            return false;
        }
    }

    private static ParsedLbsEntry Reject(string error) => new(null, null, error);

    /// <summary>The UTF-8 byte count of a string, for callers that check sizes before they write.</summary>
    public static int ByteCount(string value) => Encoding.UTF8.GetByteCount(value);
}
