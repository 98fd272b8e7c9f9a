using RecoverableStreams.Keys;

namespace RecoverableStreams.Configuration;

/// <summary>The rules behind <see cref="RecoverableStreamOptions.Validate"/>; each message names the option and the rule.</summary>
internal static class RecoverableStreamOptionsValidator
{
    public static IReadOnlyList<string> Validate(RecoverableStreamOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();

        if (string.IsNullOrWhiteSpace(options.ServiceName))
        {
            errors.Add("ServiceName is required: it names the LBS stream and the consumer group.");
        }
        else if (options.ServiceName.Contains('{', StringComparison.Ordinal) || options.ServiceName.Contains('}', StringComparison.Ordinal))
        {
            errors.Add("ServiceName must not contain '{' or '}'; set LbsStreamKey to choose a cluster hash tag.");
        }

        if (options.LbsStreamKey is not null && !StreamKeys.IsUsableLbsKey(options.LbsStreamKey))
        {
            errors.Add("LbsStreamKey must be non-empty and either contain a non-empty {hash tag} or no '}' at all.");
        }

        if (options.Partitions is < 1 or > PartitionLayout.MaxPartitions)
        {
            errors.Add($"Partitions must be between 1 and {PartitionLayout.MaxPartitions}.");
        }
        else if (options.Partitions > 1 && options.LbsStreamKey is not null && !PartitionLayout.IsUsablePartitionedBase(options.LbsStreamKey))
        {
            errors.Add("LbsStreamKey must not contain '{' or '}' when Partitions is more than 1: each partition gets its own hash tag, derived from the key.");
        }

        if (options.ConsumerGroup is not null && string.IsNullOrWhiteSpace(options.ConsumerGroup))
        {
            errors.Add("ConsumerGroup must not be empty when set.");
        }

        if (options.ConsumerId is not null && (string.IsNullOrWhiteSpace(options.ConsumerId) || options.ConsumerId.Contains('|', StringComparison.Ordinal)))
        {
            errors.Add("ConsumerId must not be empty and must not contain '|' (the lease value separator).");
        }

        if (options.Database < -1)
        {
            errors.Add("Database must be -1 (the connection's default) or a database number of 0 or more.");
        }

        if (options.LeaseDuration < TimeSpan.FromMilliseconds(100) || options.LeaseDuration > TimeSpan.FromHours(1))
        {
            errors.Add("LeaseDuration must be between 100 ms and 1 hour.");
        }

        // The local deadline is RenewInterval + LeaseDuration / 10 before Redis' (ConsumerSession.SafetyMargin), and the
        // next renewal is sent RenewInterval after the last: its reply has LeaseDuration - 2 x RenewInterval -
        // LeaseDuration / 10 to arrive. At half the lease that is negative (every session ends before its first
        // renewal); a quarter leaves 40% of the lease.
        if (options.RenewInterval is { } renew && (renew <= TimeSpan.Zero || renew > options.LeaseDuration / 4))
        {
            errors.Add("RenewInterval must be positive and at most a quarter of LeaseDuration: a renewal's reply must arrive before the session's local deadline, which falls RenewInterval + LeaseDuration / 10 before Redis' deadline.");
        }

        RequirePositive(errors, options.SweepInterval, nameof(options.SweepInterval));
        RequirePositive(errors, options.ReconcileInterval, nameof(options.ReconcileInterval));
        RequirePositive(errors, options.PollInterval, nameof(options.PollInterval));
        RequirePositive(errors, options.DeliveryCheckInterval, nameof(options.DeliveryCheckInterval));
        if (options.SafetyPollBudget < 1)
        {
            errors.Add("SafetyPollBudget must be at least 1 stream per second.");
        }

        if (options.HandlerStallTimeout is { } stall && stall <= TimeSpan.Zero)
        {
            errors.Add("HandlerStallTimeout must be positive when set.");
        }

        RequireAtLeast(errors, options.MaxConcurrentStreams, 1, nameof(options.MaxConcurrentStreams));
        RequireAtLeast(errors, options.MaxDataStreamNameLength, 1, nameof(options.MaxDataStreamNameLength));
        RequireAtLeast(errors, options.MaxLbsPayloadBytes, 64, nameof(options.MaxLbsPayloadBytes));
        RequireAtLeast(errors, options.MaxInfoDepth, 2, nameof(options.MaxInfoDepth));
        RequireAtLeast(errors, options.MaxLbsEntryFields, 1, nameof(options.MaxLbsEntryFields));
        RequireAtLeast(errors, options.DeadLetterMaxLength, 1, nameof(options.DeadLetterMaxLength));
        if (!Enum.IsDefined(options.DataStreamRetention))
        {
            errors.Add($"{nameof(options.DataStreamRetention)} must be Keep, Delete or Expire (was {options.DataStreamRetention}).");
        }

        if (options.DataStreamRetention == DataStreamRetention.Expire && options.DataStreamRetentionPeriod < TimeSpan.FromSeconds(1))
        {
            errors.Add($"{nameof(options.DataStreamRetentionPeriod)} must be at least 1 second with DataStreamRetention = Expire (was {options.DataStreamRetentionPeriod}).");
        }

        if (!Enum.IsDefined(options.KeyspaceNotifications))
        {
            errors.Add("KeyspaceNotifications must be Merge, VerifyOnly or Off.");
        }

        return errors;
    }

    /// <summary>Throws an <see cref="ArgumentException"/> listing every problem, when there is one.</summary>
    public static void ThrowIfInvalid(RecoverableStreamOptions options)
    {
        var errors = Validate(options);
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid RecoverableStreamOptions: " + string.Join(" ", errors), nameof(options));
        }
    }

    private static void RequirePositive(List<string> errors, TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            errors.Add($"{name} must be positive.");
        }
    }

    private static void RequireAtLeast(List<string> errors, int value, int minimum, string name)
    {
        if (value < minimum)
        {
            errors.Add($"{name} must be at least {minimum}.");
        }
    }
}
