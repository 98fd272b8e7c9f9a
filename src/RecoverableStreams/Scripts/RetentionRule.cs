using System.Globalization;
using RecoverableStreams.Keys;
using StackExchange.Redis;

namespace RecoverableStreams.Scripts;

/// <summary>
/// The service's <see cref="DataStreamRetention"/> as the completion and dead-letter scripts take it: their arguments,
/// and whether the data stream's key can join their keys (same node and slot, so the retention is part of the same
/// atomic script) or needs <c>retain_data_stream.lua</c> right after.
/// </summary>
internal sealed class RetentionRule
{
    public static readonly RetentionRule Keep = new(DataStreamRetention.Keep, TimeSpan.Zero);

    private readonly DataStreamRetention _mode;

    public RetentionRule(DataStreamRetention mode, TimeSpan period)
    {
        _mode = mode;
        Mode = mode switch
        {
            DataStreamRetention.Delete => "delete",
            DataStreamRetention.Expire => "expire",
            _ => "keep",
        };
        PeriodMs = ((long)period.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The scripts' retention argument.</summary>
    public string Mode { get; }

    /// <summary>The scripts' period argument, in milliseconds.</summary>
    public string PeriodMs { get; }

    public static RetentionRule For(RecoverableStreamOptions options) =>
        options.DataStreamRetention == DataStreamRetention.Keep ? Keep : new RetentionRule(options.DataStreamRetention, options.DataStreamRetentionPeriod);

    /// <summary>Where the retention of <paramref name="dataStream"/> is applied, if anywhere.</summary>
    public RetentionPlacement PlacementOf(string? dataStream, StreamKeys keys, IConnectionMultiplexer redis)
    {
        if (_mode == DataStreamRetention.Keep || string.IsNullOrEmpty(dataStream) || IsServiceKey(dataStream, keys))
        {
            return RetentionPlacement.None;
        }

        var cluster = redis.GetServers().Any(s => s.ServerType == ServerType.Cluster);
        return !cluster || HashSlot.Of(dataStream) == HashSlot.Of(keys.Lbs) ? RetentionPlacement.InScript : RetentionPlacement.AfterScript;
    }

    /// <summary>A hostile or mistaken name that points at the service's own keys is never deleted or expired.</summary>
    private static bool IsServiceKey(string dataStream, StreamKeys keys) =>
        dataStream == keys.Lbs || dataStream.StartsWith(keys.Prefix, StringComparison.Ordinal);
}

/// <summary>Where a data stream's retention is applied.</summary>
internal enum RetentionPlacement
{
    /// <summary>Nowhere: the service keeps data streams, or the name is not one to touch.</summary>
    None,

    /// <summary>In the completion or dead-letter script itself, atomically.</summary>
    InScript,

    /// <summary>By <c>retain_data_stream.lua</c> right after the script (another slot of a Redis Cluster).</summary>
    AfterScript,
}
