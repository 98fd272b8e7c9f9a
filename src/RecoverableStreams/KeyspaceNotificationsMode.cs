namespace RecoverableStreams;

/// <summary>What the client does with the server's <c>notify-keyspace-events</c> setting.</summary>
public enum KeyspaceNotificationsMode
{
    /// <summary>Adds the flags it wants (<c>K</c>, <c>E</c>, <c>x</c>, <c>t</c>) to what is configured; never removes any.</summary>
    Merge,

    /// <summary>Only checks the flags and logs a warning when some are missing.</summary>
    VerifyOnly,

    /// <summary>Never reads or writes the server configuration; wake-ups come from pub/sub events and polling.</summary>
    Off,
}
