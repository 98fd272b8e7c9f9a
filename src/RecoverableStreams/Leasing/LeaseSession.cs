namespace RecoverableStreams.Leasing;

/// <summary>
/// One session of this consumer in Redis (docs/ARCHITECTURE.md, "Sessions and their deadlines"): every lease granted
/// to it shares its deadlines. <see cref="LocalDeadline"/> is measured on the monotonic clock from the send time of the
/// last successful renewal; past it the session is over for this process, whatever Redis says. Once ended, a session
/// never comes back: the client opens a new one with a new id.
/// </summary>
internal sealed class LeaseSession
{
    private long _localDeadline;
    private long _expiresAtMs;
    private int _ended;

    public LeaseSession(string id, long localDeadline, long expiresAtMs)
    {
        Id = id;
        _localDeadline = localDeadline;
        _expiresAtMs = expiresAtMs;
    }

    /// <summary>The member in <c>{L}:sessions</c>: <c>consumerId|random</c>.</summary>
    public string Id { get; }

    /// <summary>The local, monotonic deadline (a <see cref="TimeProvider.GetTimestamp"/> value).</summary>
    public long LocalDeadline => Interlocked.Read(ref _localDeadline);

    /// <summary>The deadline on the Redis clock, in Unix milliseconds.</summary>
    public long ExpiresAtMs => Interlocked.Read(ref _expiresAtMs);

    public bool IsEnded => Volatile.Read(ref _ended) != 0;

    /// <summary>The record value of a stream granted to this session with <paramref name="fencingToken"/>.</summary>
    public string RecordValue(long fencingToken) => Id + "|" + fencingToken.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Whether <paramref name="record"/> equals <see cref="RecordValue"/> of <paramref name="fencingToken"/>, without building it.</summary>
    public bool IsRecordValue(string record, long fencingToken)
    {
        if (!NamesThisSession(record))
        {
            return false;
        }

        Span<char> token = stackalloc char[20];
        return fencingToken.TryFormat(token, out var written, provider: System.Globalization.CultureInfo.InvariantCulture)
            && record.AsSpan(Id.Length + 1).SequenceEqual(token[..written]);
    }

    /// <summary>Whether <paramref name="record"/> names this session ("<c>Id|token</c>"), whatever its token.</summary>
    public bool NamesThisSession(string record) =>
        record.Length > Id.Length + 1 && record.StartsWith(Id, StringComparison.Ordinal) && record[Id.Length] == '|'
        && record.IndexOf('|', Id.Length + 1) < 0;

    public bool IsPastLocalDeadline(TimeProvider time) => time.GetTimestamp() >= LocalDeadline;

    /// <summary>Moves both deadlines forward after a successful renewal sent at the time that gave <paramref name="localDeadline"/>.</summary>
    public void Renewed(long localDeadline, long expiresAtMs)
    {
        // A reply can arrive out of order with a later one: deadlines only move forward.
        InterlockedMax(ref _localDeadline, localDeadline);
        InterlockedMax(ref _expiresAtMs, expiresAtMs);
    }

    /// <summary>Ends the session once; returns <see langword="false"/> when it had already ended.</summary>
    public bool End() => Interlocked.Exchange(ref _ended, 1) == 0;

    public override string ToString() => Id;

    private static void InterlockedMax(ref long target, long value)
    {
        var current = Interlocked.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
