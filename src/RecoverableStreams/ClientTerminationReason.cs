namespace RecoverableStreams;

/// <summary>Why the client stopped on its own (<see cref="StreamNotificationType.StreamTerminated"/>).</summary>
public enum ClientTerminationReason
{
    /// <summary>The LBS key holds a value that is not a stream: the service's keys were overwritten; fix the data, then restart.</summary>
    LbsKeyNotAStream,
}
