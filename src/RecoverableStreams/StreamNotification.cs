using System.Text.Json;

namespace RecoverableStreams;

/// <summary>An event on the client's notification channel.</summary>
public sealed class StreamNotification
{
    /// <summary>What happened.</summary>
    public required StreamNotificationType Type { get; init; }

    /// <summary>The stream it happened to. For <see cref="StreamNotificationType.StreamTerminated"/> both names are empty.</summary>
    public required LbsInfo Payload { get; init; }

    /// <summary>The producer's <c>Info</c> object, when the entry carried one.</summary>
    public IReadOnlyDictionary<string, JsonElement>? AdditionalInfo { get; init; }

    /// <summary>The lease this consumer now holds (<see cref="StreamNotificationType.StreamAdded"/>) or lost (<see cref="StreamNotificationType.StreamDisowned"/>).</summary>
    public StreamLease? Lease { get; init; }

    /// <summary>Why the lease ended, for <see cref="StreamNotificationType.StreamDisowned"/> (the lease's <see cref="StreamLease.EndReason"/>).</summary>
    public LeaseEndReason? EndReason { get; init; }

    /// <summary>Why the client stopped, for <see cref="StreamNotificationType.StreamTerminated"/>.</summary>
    public ClientTerminationReason? TerminationReason { get; init; }

    /// <inheritdoc />
    public override string ToString() => $"{Type} {Payload.DataStreamName} ({Payload.IdInLbs}){(EndReason is { } end ? ": " + end : TerminationReason is { } stop ? ": " + stop : "")}";
}
