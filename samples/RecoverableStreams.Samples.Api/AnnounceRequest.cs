using System.Text.Json;

namespace RecoverableStreams.Samples.Api;

/// <summary>The body of <c>POST /streams</c>: <c>{"dataStreamName": "...", "info": {...}}</c>.</summary>
/// <param name="DataStreamName">The Redis key of the data stream.</param>
/// <param name="Info">Free-form object handed to the handler as its additional info.</param>
public sealed record AnnounceRequest(string? DataStreamName, JsonElement? Info)
{
    /// <summary>The info as the publisher takes it, or <see langword="null"/> when none was sent.</summary>
    public IDictionary<string, object?>? InfoAsDictionary() =>
        Info is { ValueKind: JsonValueKind.Object } info
            ? info.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone())
            : null;
}
