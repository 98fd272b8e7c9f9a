namespace RecoverableStreams.Leasing;

/// <summary>
/// The current session of this consumer. Only <see cref="SessionRenewer"/> replaces it; the acquirers read it and
/// acquire only while it is live.
/// </summary>
internal sealed class SessionState(TimeProvider time)
{
    private LeaseSession? _current;

    public LeaseSession? Current => Volatile.Read(ref _current);

    /// <summary>The current session when it has not ended and its local deadline has not passed.</summary>
    public bool TryGetLive(out LeaseSession session)
    {
        session = Current!;
        return session is not null && !session.IsEnded && !session.IsPastLocalDeadline(time);
    }

    public void Replace(LeaseSession session) => Volatile.Write(ref _current, session);
}
