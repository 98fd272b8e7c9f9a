using System.Globalization;
using RecoverableStreams.Administration;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace RecoverableStreams.Cli;

/// <summary>
/// One method per command: calls the operator API and renders the answer. Cells are plain <see cref="Text"/>, never
/// markup, so stream names and reasons with brackets print as they are.
/// </summary>
internal sealed class Commands(RecoverableStreamsAdmin admin, IAnsiConsole output)
{
    private const int ReplayPage = 200;

    public async Task<int> StatusAsync()
    {
        var status = await admin.GetStatusAsync().ConfigureAwait(false);
        output.Write(new Text($"Service {status.ServiceName}  (LBS {status.LbsStreamKey}, group {status.ConsumerGroup})  Redis time {Time(status.ServerTime)}" + Environment.NewLine));

        var counts = NewTable("Entries in LBS", "Lag", "Pending", "Owned", "Dead letters");
        counts.AddRow(Cells(Number(status.EntriesInLbs), status.Lag is { } lag ? Number(lag) : "unknown", Number(status.Pending), Number(status.Owned), Number(status.DeadLetters)));
        output.Write(counts);

        if (status.Consumers.Count == 0)
        {
            output.Write(new Text("No consumer session." + Environment.NewLine));
            return ExitCodes.Ok;
        }

        var consumers = NewTable("Consumer", "Session", "Last heartbeat", "Age", "Session deadline", "State", "Streams");
        foreach (var c in status.Consumers)
        {
            consumers.AddRow(Cells(c.ConsumerId, c.SessionId, Time(c.LastHeartbeat), Seconds(c.HeartbeatAge), Time(c.SessionDeadline), c.IsLive ? "live" : "dead", Number(c.OwnedStreams)));
        }

        output.Write(consumers);
        return ExitCodes.Ok;
    }

    public async Task<int> OwnersAsync()
    {
        var owners = await admin.GetOwnersAsync().ConfigureAwait(false);
        if (owners.Count == 0)
        {
            output.Write(new Text("No stream is owned." + Environment.NewLine));
            return ExitCodes.Ok;
        }

        var table = NewTable("Stream", "LBS id", "Consumer", "Session", "Token", "Deadline");
        foreach (var o in owners)
        {
            table.AddRow(Cells(o.DataStreamName ?? "(entry gone)", o.IdInLbs, o.ConsumerId, o.SessionId, Number(o.FencingToken), Time(o.Deadline)));
        }

        output.Write(table);
        output.Write(new Text($"{owners.Count} owned stream(s)." + Environment.NewLine));
        return ExitCodes.Ok;
    }

    public async Task<int> ListDeadLettersAsync(string? after, int count)
    {
        var page = await admin.GetDeadLettersAsync(after, count).ConfigureAwait(false);
        if (page.Items.Count == 0)
        {
            output.Write(new Text((after is null ? "No dead letters." : "No more dead letters.") + Environment.NewLine));
            return ExitCodes.Ok;
        }

        var table = NewTable("Id", "Stream", "LBS id", "Reason", "Consumer", "Attempts", "Time");
        foreach (var d in page.Items)
        {
            table.AddRow(Cells(d.Id, d.DataStreamName ?? "(unreadable)", d.IdInLbs, d.Reason, d.ConsumerId, Number(d.Attempts), Time(d.Time)));
        }

        output.Write(table);
        if (page.Next is { } next)
        {
            output.Write(new Text($"More: rstreams dlq list --after {next}" + Environment.NewLine));
        }

        return ExitCodes.Ok;
    }

    public async Task<int> ReplayAsync(IReadOnlyList<string> ids, bool all)
    {
        var replayed = 0;
        var missing = 0;
        foreach (var id in all ? await AllDeadLetterIdsAsync().ConfigureAwait(false) : ids)
        {
            var replay = await admin.ReplayDeadLetterAsync(id).ConfigureAwait(false);
            switch (replay.Outcome)
            {
                case DeadLetterReplayOutcome.Replayed:
                    replayed++;
                    output.Write(new Text($"Replayed {id} as LBS entry {replay.NewIdInLbs}." + Environment.NewLine));
                    break;
                case DeadLetterReplayOutcome.AlreadyAnnounced:
                    missing++;
                    output.Write(new Text($"Kept {id}: its stream is already announced (LBS entry {replay.NewIdInLbs})." + Environment.NewLine));
                    break;
                case DeadLetterReplayOutcome.NoOriginalFields:
                    missing++;
                    output.Write(new Text($"Kept {id}: it has no original fields to announce." + Environment.NewLine));
                    break;
                default:
                    missing++;
                    output.Write(new Text($"No dead letter {id}." + Environment.NewLine));
                    break;
            }
        }

        output.Write(new Text($"{replayed} replayed." + Environment.NewLine));
        return missing == 0 ? ExitCodes.Ok : ExitCodes.NotFound;
    }

    public async Task<int> PurgeAsync(IReadOnlyList<string> ids, bool all)
    {
        if (all)
        {
            var purged = await admin.PurgeAllDeadLettersAsync().ConfigureAwait(false);
            output.Write(new Text($"Purged {purged} dead letter(s)." + Environment.NewLine));
            return ExitCodes.Ok;
        }

        var deleted = await admin.PurgeDeadLettersAsync(ids).ConfigureAwait(false);
        output.Write(new Text($"Purged {deleted} of {ids.Count} dead letter(s)." + Environment.NewLine));
        return deleted == ids.Count ? ExitCodes.Ok : ExitCodes.NotFound;
    }

    public async Task<int> ReleaseAsync(string stream)
    {
        var release = await admin.ForceReleaseAsync(stream).ConfigureAwait(false);
        if (release.Outcome != ForceReleaseOutcome.Released)
        {
            output.Write(new Text($"Stream {stream} has no owner: nothing to release." + Environment.NewLine));
            return ExitCodes.NotFound;
        }

        foreach (var o in release.Released)
        {
            output.Write(new Text($"Released {o.DataStreamName ?? o.IdInLbs} (LBS id {o.IdInLbs}) from {o.ConsumerId} (session {o.SessionId}, token {Number(o.FencingToken)}): peers take it over; its writes are refused." + Environment.NewLine));
        }

        return ExitCodes.Ok;
    }

    /// <summary>Every dead letter id, read before any is replayed, so entries replayed and dead-lettered again are not looped over.</summary>
    private async Task<List<string>> AllDeadLetterIdsAsync()
    {
        var ids = new List<string>();
        string? after = null;
        do
        {
            var page = await admin.GetDeadLettersAsync(after, ReplayPage).ConfigureAwait(false);
            ids.AddRange(page.Items.Select(d => d.Id));
            after = page.Next;
        }
        while (after is not null);
        return ids;
    }

    private static Table NewTable(params string[] columns)
    {
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var column in columns)
        {
            table.AddColumn(new TableColumn(new Text(column, new Style(decoration: Decoration.Bold))));
        }

        return table;
    }

    private static IRenderable[] Cells(params string[] values) => values.Select(v => (IRenderable)new Text(v)).ToArray();

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Time(DateTimeOffset value) => value.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static string Seconds(TimeSpan value) => value.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";
}
