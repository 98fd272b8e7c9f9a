namespace RecoverableStreams;

/// <summary>An owner's stored progress on a data stream.</summary>
/// <param name="Position">The id of the last processed data-stream entry.</param>
/// <param name="State">Optional application state stored with it.</param>
/// <param name="FencingToken">The fencing token of the owner that wrote it.</param>
public sealed record StreamCheckpoint(string Position, ReadOnlyMemory<byte> State, long FencingToken);
