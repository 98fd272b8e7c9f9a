namespace RecoverableStreams.Notifications;

/// <summary>The notifications the client writes, built in one place.</summary>
internal static class Notify
{
    public static StreamNotification Added(StreamLease lease) => new()
    {
        Type = StreamNotificationType.StreamAdded,
        Payload = lease.Info,
        AdditionalInfo = lease.AdditionalInfo,
        Lease = lease,
    };

    public static StreamNotification Ended(StreamLease lease, LeaseEndReason reason) => new()
    {
        Type = StreamNotificationType.StreamDisowned,
        Payload = lease.Info,
        AdditionalInfo = lease.AdditionalInfo,
        Lease = lease,
        EndReason = reason,
    };
}
