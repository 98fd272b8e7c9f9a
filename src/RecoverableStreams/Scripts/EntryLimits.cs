namespace RecoverableStreams.Scripts;

/// <summary>
/// The limits on an LBS entry that the scripts enforce: <c>read_acquire.lua</c> dead-letters an entry over them before
/// its fields travel, and every dead letter copies at most this much (so no producer-controlled field list is ever
/// unpacked or returned unbounded: Lua 5.1's <c>unpack</c> fails beyond ~8,000 values).
/// </summary>
/// <param name="MaxPayloadBytes">
/// <see cref="RecoverableStreamOptions.MaxLbsPayloadBytes"/>: the largest <c>lbs-input</c> payload, and also the most
/// bytes the other fields may take together.
/// </param>
/// <param name="MaxFields"><see cref="RecoverableStreamOptions.MaxLbsEntryFields"/>.</param>
internal sealed record EntryLimits(int MaxPayloadBytes, int MaxFields)
{
    public static EntryLimits Default { get; } = From(new RecoverableStreamOptions());

    public static EntryLimits From(RecoverableStreamOptions options) => new(options.MaxLbsPayloadBytes, options.MaxLbsEntryFields);
}
