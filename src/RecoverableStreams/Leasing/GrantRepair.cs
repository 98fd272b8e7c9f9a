using RecoverableStreams.Diagnostics;
using RecoverableStreams.Partitioning;
using RecoverableStreams.Scripts;

namespace RecoverableStreams.Leasing;

/// <summary>
/// Finds the streams Redis records for this consumer's session that no lease here holds (a grant whose reply was lost:
/// a timeout after the send, an exception halfway through a batch) and releases them for peers, so no stream stays
/// owned by a live session that never runs it. Runs inside the acquisition gate: every grant in flight has been
/// registered (or has failed) by then, so what the index lists and the registry lacks is truly unknown here.
/// Pages the session's index (<c>{L}:owned</c>) in bounded pages.
/// </summary>
internal sealed class GrantRepair(ClientContext context)
{
    private const int PageSize = 500;

    public async Task RunAsync(LeaseSession session, IReadOnlyList<Partition> partitions)
    {
        using (await context.Registry.EnterAcquisitionAsync(context.Stopping).ConfigureAwait(false))
        {
            foreach (var partition in partitions)
            {
                await RepairAsync(session, partition).ConfigureAwait(false);
            }
        }
    }

    private async Task RepairAsync(LeaseSession session, Partition partition)
    {
        string? after = null;
        while (!session.IsEnded)
        {
            var page = await partition.Scripts.OwnedPageAsync(session.Id, after, PageSize).ConfigureAwait(false);
            if (page.Count == 0)
            {
                return;
            }

            after = page[^1].Id;
            // Members and records are two reads: a record that names another session now (a peer claimed the stream
            // after this session released it) is not this session's to release, whatever the index still lists.
            var unknown = page
                .Where(p => p.Record is not null && session.NamesThisSession(p.Record) && !IsHeld(partition, p.Id, p.Record))
                .Select(p => (p.Id, p.Record!))
                .ToArray();
            if (unknown.Length > 0)
            {
                // Ownership-checked: a record that changed meanwhile is left alone.
                var released = await partition.Scripts.ReleaseAsync(session.Id, unknown).ConfigureAwait(false);
                Log.UnknownGrantsReleased(context.Logger, session.Id, released.Count);
            }

            if (page.Count < PageSize)
            {
                return;
            }
        }
    }

    private bool IsHeld(Partition partition, string entryId, string record) =>
        context.Registry.TryGet(context.Layout.IdOf(partition.Index, entryId), out var lease) && lease.IsOwned && lease.IsRecord(record);
}
