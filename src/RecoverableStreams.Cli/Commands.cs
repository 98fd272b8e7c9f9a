using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using RecoverableStreams.Administration;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace RecoverableStreams.Cli;

/// <summary>
/// One method per command: calls the operator API and prints the answer, as tables (cells are plain <see cref="Text"/>,
/// never markup, and names are escaped with <see cref="TerminalText"/>) or as one JSON document (<c>--output json</c>).
/// Destructive commands ask first, or need <c>--yes</c>.
/// </summary>
internal sealed class Commands(RecoverableStreamsAdmin admin, GlobalSettings settings, CliConsole console)
{
    private const int ReplayPage = 200;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true, Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) } };

    private IAnsiConsole Output => console.Output;

    private bool AsJson => settings.Output == OutputFormat.Json;

    public async Task<int> StatusAsync()
    {
        var status = await admin.GetStatusAsync().ConfigureAwait(false);
        var lease = settings.LeaseDuration;
        if (AsJson)
        {
            return WriteJson(new
            {
                status.ServiceName,
                status.LbsStreamKey,
                status.ConsumerGroup,
                status.Partitions,
                status.ServerTime,
                status.EntriesInLbs,
                status.Lag,
                status.Pending,
                status.Owned,
                status.DeadLetters,
                Consumers = status.Consumers.Select(c => new
                {
                    c.ConsumerId,
                    c.SessionId,
                    c.SessionDeadline,
                    DeadlineInMs = (long)(c.SessionDeadline - status.ServerTime).TotalMilliseconds,
                    c.IsLive,
                    c.OwnedStreams,
                    LastHeartbeat = lease is null ? (DateTimeOffset?)null : c.LastHeartbeat,
                    HeartbeatAgeMs = lease is null ? (long?)null : (long)c.HeartbeatAge.TotalMilliseconds,
                }),
            });
        }

        var partitions = status.Partitions > 1 ? $", {status.Partitions} partitions" : "";
        Line($"Service {Esc(status.ServiceName)}  (LBS {Esc(status.LbsStreamKey)}, group {Esc(status.ConsumerGroup)}{partitions})  Redis time {Time(status.ServerTime)}");

        var counts = NewTable("Entries in LBS", "Lag", "Pending", "Owned", "Dead letters");
        counts.AddRow(Cells(Number(status.EntriesInLbs), status.Lag is { } lag ? Number(lag) : "unknown", Number(status.Pending), Number(status.Owned), Number(status.DeadLetters)));
        Output.Write(counts);

        if (status.Consumers.Count == 0)
        {
            Line("No consumer session.");
            if (status.EntriesInLbs == 0 && status.DeadLetters == 0 && status.Partitions == 1)
            {
                // The one way to see an empty service where there is a busy one: a partitioned service read as one partition.
                await console.Error.WriteLineAsync($"rstreams: nothing found under {Esc(status.LbsStreamKey)}. If the consumers set Partitions, pass --partitions (or {CliApp.PartitionsVariable}).").ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        }

        // The heartbeat is the deadline less the consumers' lease: shown only when the lease is known, never guessed.
        var consumers = NewTable("Consumer", "Session", "Last heartbeat", "Age", "Session deadline", "State", "Streams");
        foreach (var c in status.Consumers)
        {
            consumers.AddRow(Cells(Esc(c.ConsumerId), Esc(c.SessionId), lease is null ? "?" : Time(c.LastHeartbeat), lease is null ? "?" : Seconds(c.HeartbeatAge),
                Time(c.SessionDeadline) + " (in " + Seconds(c.SessionDeadline - status.ServerTime) + ")", c.IsLive ? "live" : "dead", Number(c.OwnedStreams)));
        }

        Output.Write(consumers);
        if (lease is null)
        {
            Line("Pass --lease-duration (the consumers' LeaseDuration) to see when each consumer last renewed.");
        }

        return ExitCodes.Ok;
    }

    public async Task<int> OwnersAsync(int count)
    {
        var page = await admin.GetOwnerPageAsync(count).ConfigureAwait(false);
        if (AsJson)
        {
            return WriteJson(new { page.Total, page.More, Owners = page.Items });
        }

        if (page.Items.Count == 0)
        {
            Line("No stream is owned.");
            return ExitCodes.Ok;
        }

        var table = NewTable("Stream", "LBS id", "Consumer", "Session", "Token", "Deadline");
        foreach (var o in page.Items)
        {
            table.AddRow(Cells(o.DataStreamName is null ? "(entry gone)" : Esc(o.DataStreamName), Esc(o.IdInLbs), Esc(o.ConsumerId), Esc(o.SessionId), Number(o.FencingToken), Time(o.Deadline)));
        }

        Output.Write(table);
        Line(page.More > 0
            ? $"{page.Items.Count} of {page.Total} owned stream(s) shown; {page.More} more (--count to see more)."
            : $"{page.Items.Count} owned stream(s).");
        return ExitCodes.Ok;
    }

    public async Task<int> ListDeadLettersAsync(string? after, int count)
    {
        DeadLetterPage page;
        try
        {
            page = await admin.GetDeadLettersAsync(after, count).ConfigureAwait(false);
        }
        catch (ArgumentException ex)
        {
            throw new UsageException(ex.Message);
        }

        if (AsJson)
        {
            return WriteJson(page);
        }

        if (page.Items.Count == 0)
        {
            Line(after is null ? "No dead letters." : "No more dead letters.");
            return ExitCodes.Ok;
        }

        var table = NewTable("Id", "Stream", "LBS id", "Reason", "Consumer", "Attempts", "Time");
        foreach (var d in page.Items)
        {
            table.AddRow(Cells(Esc(d.Id), d.DataStreamName is null ? "(unreadable)" : Esc(d.DataStreamName), Esc(d.IdInLbs), Esc(d.Reason), Esc(d.ConsumerId), Number(d.Attempts), Time(d.Time)));
        }

        Output.Write(table);
        if (page.Next is { } next)
        {
            Line($"More: rstreams dlq list --after {Esc(next)}");
        }

        return ExitCodes.Ok;
    }

    public async Task<int> ReplayAsync(IReadOnlyList<string> ids, bool all, bool yes)
    {
        var targets = all ? await AllDeadLetterIdsAsync().ConfigureAwait(false) : ids.ToList();
        if (all && !Confirmed(yes, $"Announce all {targets.Count} dead letter(s) of {Esc(admin.ServiceName)} again?"))
        {
            return await AbortedAsync().ConfigureAwait(false);
        }

        var results = new List<DeadLetterReplay>();
        foreach (var id in targets)
        {
            results.Add(await admin.ReplayDeadLetterAsync(id).ConfigureAwait(false));
        }

        var replayed = results.Count(r => r.Outcome == DeadLetterReplayOutcome.Replayed);
        var exit = replayed == results.Count ? ExitCodes.Ok : ExitCodes.NotFound;
        if (AsJson)
        {
            WriteJson(new { Replayed = replayed, Results = results });
            return exit;
        }

        foreach (var replay in results)
        {
            var id = Esc(replay.DeadLetterId);
            Line(replay.Outcome switch
            {
                DeadLetterReplayOutcome.Replayed => $"Replayed {id} as LBS entry {Esc(replay.NewIdInLbs)}.",
                DeadLetterReplayOutcome.AlreadyAnnounced => $"Kept {id}: its stream is already announced (LBS entry {Esc(replay.NewIdInLbs)}).",
                DeadLetterReplayOutcome.NoOriginalFields => $"Kept {id}: it has no original fields to announce.",
                _ => $"No dead letter {id}.",
            });
        }

        Line($"{replayed} replayed.");
        return exit;
    }

    public async Task<int> PurgeAsync(IReadOnlyList<string> ids, bool all, bool yes)
    {
        var what = all ? $"every dead letter of {Esc(admin.ServiceName)}" : $"{ids.Count} dead letter(s) of {Esc(admin.ServiceName)}";
        if (!Confirmed(yes, $"Delete {what} for good?"))
        {
            return await AbortedAsync().ConfigureAwait(false);
        }

        if (all)
        {
            var purged = await admin.PurgeAllDeadLettersAsync().ConfigureAwait(false);
            return AsJson ? WriteJson(new { Purged = purged }) : Done($"Purged {purged} dead letter(s).", ExitCodes.Ok);
        }

        var deleted = await admin.PurgeDeadLettersAsync(ids).ConfigureAwait(false);
        var exit = deleted == ids.Count ? ExitCodes.Ok : ExitCodes.NotFound;
        if (AsJson)
        {
            WriteJson(new { Purged = deleted, Asked = ids.Count });
            return exit;
        }

        return Done($"Purged {deleted} of {ids.Count} dead letter(s).", exit);
    }

    public async Task<int> ReleaseAsync(string stream, bool yes)
    {
        if (!Confirmed(yes, $"Take {Esc(stream)} from its owner (peers take it over; the owner's writes are refused)?"))
        {
            return await AbortedAsync().ConfigureAwait(false);
        }

        var release = await admin.ForceReleaseAsync(stream).ConfigureAwait(false);
        var exit = release.Outcome == ForceReleaseOutcome.Released ? ExitCodes.Ok : ExitCodes.NotFound;
        if (AsJson)
        {
            WriteJson(release);
            return exit;
        }

        if (release.Outcome != ForceReleaseOutcome.Released)
        {
            return Done($"Stream {Esc(stream)} has no owner: nothing to release.", exit);
        }

        foreach (var o in release.Released)
        {
            Line($"Released {Esc(o.DataStreamName ?? o.IdInLbs)} (LBS id {Esc(o.IdInLbs)}) from {Esc(o.ConsumerId)} (session {Esc(o.SessionId)}, token {Number(o.FencingToken)}): peers take it over; its writes are refused.");
        }

        return exit;
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

    private bool Confirmed(bool yes, string question) => yes || console.Confirm(question);

    private async Task<int> AbortedAsync()
    {
        await console.Error.WriteLineAsync(console.Input is null
            ? "rstreams: not done: this command changes the service; pass --yes to run it without a terminal."
            : "rstreams: not done.").ConfigureAwait(false);
        return ExitCodes.Refused;
    }

    private int WriteJson<T>(T value)
    {
        var writer = Output.Profile.Out.Writer;
        writer.WriteLine(JsonSerializer.Serialize(value, Json));
        writer.Flush();
        return ExitCodes.Ok;
    }

    private int Done(string line, int exit)
    {
        Line(line);
        return exit;
    }

    private void Line(string text) => Output.Write(new Text(text + Environment.NewLine));

    private static string Esc(string? value) => TerminalText.Escape(value);

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
