using RecoverableStreams.Keys;

namespace RecoverableStreams.Checkpoints;

/// <summary>
/// Splits the waiting readers into the batches of one safety-poll call each: at most <c>maxPerBatch</c> keys, and on a
/// cluster only keys of one hash slot per batch (a multi-key script must not cross slots).
/// </summary>
internal static class SafetyPollBatches
{
    public const int DefaultMaxPerBatch = 500;

    public static List<List<T>> Plan<T>(IEnumerable<T> items, Func<T, string> key, bool clustered, int maxPerBatch = DefaultMaxPerBatch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPerBatch, 1);
        var batches = new List<List<T>>();
        if (!clustered)
        {
            batches.AddRange(items.Chunk(maxPerBatch).Select(chunk => chunk.ToList()));
            return batches;
        }

        foreach (var slot in items.GroupBy(item => HashSlot.Of(key(item))))
        {
            batches.AddRange(slot.Chunk(maxPerBatch).Select(chunk => chunk.ToList()));
        }

        return batches;
    }
}
