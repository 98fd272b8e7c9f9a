using System.Collections.Concurrent;

namespace RecoverableStreams.Hosting.Processing;

/// <summary>
/// The streams this worker gave back for another consumer to take (one it cannot route, or one whose handler kept
/// hitting a Redis outage), and until when: taken back before then, such a stream is held a moment and given back
/// again, so that a peer gets the chance, instead of being handled (or dead-lettered) here.
/// </summary>
internal sealed class HandOvers(TimeProvider time)
{
    private const int PruneAbove = 1024;

    private readonly ConcurrentDictionary<string, long> _until = new(StringComparer.Ordinal);

    public void Remember(string idInLbs, TimeSpan duration)
    {
        var now = time.GetTimestamp();
        _until[idInLbs] = now + (long)(duration.TotalSeconds * time.TimestampFrequency);
        if (_until.Count > PruneAbove)
        {
            foreach (var (id, until) in _until)
            {
                if (until <= now)
                {
                    _until.TryRemove(new KeyValuePair<string, long>(id, until));
                }
            }
        }
    }

    /// <summary>True while the stream is to be left to other consumers.</summary>
    public bool IsHandedOver(string idInLbs)
    {
        if (!_until.TryGetValue(idInLbs, out var until))
        {
            return false;
        }

        if (until > time.GetTimestamp())
        {
            return true;
        }

        _until.TryRemove(new KeyValuePair<string, long>(idInLbs, until));
        return false;
    }
}
