namespace RecoverableStreams;

/// <summary>
/// What happens to a data stream's own key when its stream ends for good: completed, or dead-lettered by its owner
/// (<see cref="RecoverableStreamOptions.DataStreamRetention"/>). A released or handed-over stream keeps its data: a
/// peer continues it.
/// </summary>
public enum DataStreamRetention
{
    /// <summary>The data stream is left as it is; cleaning it up is the application's.</summary>
    Keep,

    /// <summary>The data stream is deleted together with its completion or dead letter.</summary>
    Delete,

    /// <summary>
    /// The data stream expires <see cref="RecoverableStreamOptions.DataStreamRetentionPeriod"/> after its completion or
    /// dead letter (time to inspect it, or to replay a dead letter with its data).
    /// </summary>
    Expire,
}
