namespace RecoverableStreams.Keys;

/// <summary>
/// The Redis keys of one service, or of one partition of it (<see cref="PartitionLayout"/>; docs/ARCHITECTURE.md,
/// "Data model"). Every control key shares the LBS key's cluster hash slot, so each state change is one Lua script on
/// one node.
/// </summary>
internal sealed class StreamKeys
{
    public StreamKeys(string lbsKey, string group)
    {
        if (!IsUsableLbsKey(lbsKey))
        {
            throw new ArgumentException("The LBS key must be non-empty and either contain a non-empty {hash tag} or no '}'.", nameof(lbsKey));
        }

        Lbs = lbsKey;
        Group = group;
        // A key that already has a hash tag keeps it: appending to the whole key stays in its slot and cannot collide
        // with another service that shares the tag. A key without one becomes the tag.
        Prefix = HashSlot.HasHashTag(lbsKey) ? lbsKey : "{" + lbsKey + "}";
    }

    public static StreamKeys For(RecoverableStreamOptions options)
    {
        var service = options.ServiceName ?? throw new ArgumentException("ServiceName is required.", nameof(options));
        if (options.Partitions != 1)
        {
            // A caller that is not partition-aware would silently use keys no partitioned producer writes to.
            throw new ArgumentException("The service has several partitions: take each partition's keys from PartitionLayout.", nameof(options));
        }

        return new StreamKeys(options.LbsStreamKey ?? service + "-input", options.ConsumerGroup ?? service + "-group");
    }

    /// <summary>The load-balancer stream.</summary>
    public string Lbs { get; }

    /// <summary>The consumer group on <see cref="Lbs"/>.</summary>
    public string Group { get; }

    /// <summary>The prefix of every control key: <c>{L}</c>, or L itself when it has a hash tag.</summary>
    public string Prefix { get; }

    /// <summary>Sorted set: session id -> deadline (ms, Redis clock).</summary>
    public string Sessions => Prefix + ":sessions";

    /// <summary>Hash: LBS entry id -> <c>sessionId|token</c>, the one ownership record of a stream.</summary>
    public string Owners => Prefix + ":owners";

    /// <summary>Sorted set, all scores 0: <c>sessionId\0idInLbs</c>, the session -> streams index.</summary>
    public string Owned => Prefix + ":owned";

    /// <summary>Hash: session id -> how many streams it owns.</summary>
    public string Counts => Prefix + ":counts";

    /// <summary>Sorted set: LBS entry id -> when it became free; the streams that need an owner now.</summary>
    public string Free => Prefix + ":free";

    /// <summary>
    /// Hash: LBS entry id -> the consumer that released it, while it waits in <see cref="Free"/>: a claim names the
    /// previous consumer from it instead of reading the pending list once per stream.
    /// </summary>
    public string ReleasedBy => Prefix + ":released-by";

    /// <summary>Hash: data stream name -> LBS entry id of its live announcement.</summary>
    public string Names => Prefix + ":names";

    /// <summary>Hash: session id -> its MaxConcurrentStreams, advisory, for capacity-aware fair shares (partition 0 only).</summary>
    public string Capacities => Prefix + ":capacities";

    public string Fence => Prefix + ":fence";

    public string Attempts => Prefix + ":attempts";

    public string Dead => Prefix + ":dead";

    public string Events => Prefix + ":events";

    public string ReconcileGuard => Prefix + ":reconcile";

    public string Checkpoint(string idInLbs) => Prefix + ":ckpt:" + idInLbs;

    /// <summary>True when the key can anchor the control keys in its own hash slot.</summary>
    public static bool IsUsableLbsKey(string key) =>
        !string.IsNullOrEmpty(key) && (HashSlot.HasHashTag(key) || !key.Contains('}', StringComparison.Ordinal));
}
