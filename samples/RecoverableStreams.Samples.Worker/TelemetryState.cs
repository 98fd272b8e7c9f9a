using System.Text.Json;

namespace RecoverableStreams.Samples.Worker;

/// <summary>
/// The aggregate so far. Stored as the checkpoint's state, in the same atomic write as the checkpoint position, so a
/// new owner resumes with the sums that match the position: nothing skipped, nothing counted twice.
/// </summary>
public sealed record TelemetryState(long Sum, long Count)
{
    public static TelemetryState Empty { get; } = new(0, 0);

    public TelemetryState Add(long value) => new(Sum + value, Count + 1);

    public byte[] ToBytes() => JsonSerializer.SerializeToUtf8Bytes(this);

    public static TelemetryState FromBytes(ReadOnlyMemory<byte> bytes) =>
        bytes.IsEmpty ? Empty : JsonSerializer.Deserialize<TelemetryState>(bytes.Span) ?? Empty;
}
