namespace RecoverableStreams;

/// <summary>How a consumer came to own a stream.</summary>
public enum LeaseOrigin
{
    /// <summary>Read as a new entry of the load-balancer stream.</summary>
    Assigned,

    /// <summary>Taken over after another consumer's lease expired or was released.</summary>
    Claimed,

    /// <summary>Taken back by the same consumer id after a restart.</summary>
    Recovered,
}
