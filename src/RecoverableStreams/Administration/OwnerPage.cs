namespace RecoverableStreams.Administration;

/// <summary>Some of a service's owned streams, and how many it owns in all.</summary>
/// <param name="Items">At most the number asked for, in no particular order across partitions (Redis's scan order).</param>
/// <param name="Total">Every owned stream of the service (the ownership records' count).</param>
public sealed record OwnerPage(IReadOnlyList<StreamOwner> Items, long Total)
{
    /// <summary>Gets how many owned streams are not in <see cref="Items"/>.</summary>
    /// <value>At least 0.</value>
    public long More => Math.Max(0, Total - Items.Count);
}
