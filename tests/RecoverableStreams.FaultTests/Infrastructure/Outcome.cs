using System.Globalization;
using StackExchange.Redis;

namespace RecoverableStreams.FaultTests.Infrastructure;

/// <summary>What a run left behind, checked stream by stream against the producer's ledger and the lease monitor.</summary>
internal sealed class Outcome
{
    public List<string> Failures { get; } = [];

    /// <summary>Streams moved to the dead-letter stream, with the reason the library recorded.</summary>
    public List<string> DeadLettered { get; } = [];

    public int Checked { get; set; }

    public int Summaries { get; set; }

    /// <summary>What the lease monitor saw: overlapping owners and stale writes accepted (both must be none), refusals.</summary>
    public LeaseMonitor.ExclusivityReport Exclusivity { get; private set; } = new([], [], 0, 0, 0, 0);

    /// <summary>Each worker a fault hit: its streams taken over, its late calls refused (see <see cref="FaultTarget"/>).</summary>
    public List<TargetReport> Targets { get; } = [];

    /// <summary>Leases granted for the checked streams (first assignments and takeovers).</summary>
    public int Grants { get; set; }

    /// <summary>
    /// Checks exclusivity over the whole MONITOR log (<see cref="LeaseMonitor.Exclusivity"/>: no two live owners, no stale
    /// write accepted), then each stream: it is no longer in the LBS nor pending (completed) or dead-lettered (reported with its
    /// reason, and a failure unless the scenario injects poison: see the scenarios' assertions); its summary holds exactly the producer's <c>sum</c> and <c>count</c>; and its <c>token</c> is the
    /// highest fencing token granted for its LBS entry: no grant seen by MONITOR is higher, and the token itself was
    /// seen granted for that entry (or falls in a window in which the monitor was disconnected).
    /// </summary>
    public static async Task<Outcome> CheckAsync(IDatabase db, ServiceKeys keys, IReadOnlyCollection<ProducedStream> streams, LeaseMonitor monitor)
    {
        var outcome = new Outcome { Checked = streams.Count, Exclusivity = monitor.Exclusivity };
        outcome.Failures.AddRange(outcome.Exclusivity.OverlappingGrants.Select(o => "Two live owners: " + o));
        outcome.Failures.AddRange(outcome.Exclusivity.StaleWritesAccepted.Select(o => "Stale write accepted: " + o));
        outcome.Failures.AddRange(outcome.Exclusivity.RevivedSessions.Select(o => "Dead session revived: " + o));
        var service = keys.Service;
        var dead = new Dictionary<string, string>(StringComparer.Ordinal);
        var remaining = new HashSet<string>(StringComparer.Ordinal);
        // Every partition's LBS, group and dead letters; ids as applications see them (the producer's LbsId).
        for (var p = 0; p < keys.Count; p++)
        {
            foreach (var letter in await db.StreamRangeAsync(keys.Dead(p)))
            {
                dead[keys.IdOf(p, (string)letter["lbs-id"]!)] = $"{letter["reason"]} (consumer {letter["consumer"]}, attempts {letter["attempts"]})";
            }

            remaining.UnionWith((await db.StreamRangeAsync(keys.Lbs[p])).Select(e => keys.IdOf(p, (string)e.Id!)));
            var pending = await db.StreamPendingAsync(keys.Lbs[p], keys.Group);
            if (pending.PendingMessageCount > 0)
            {
                outcome.Failures.Add($"{pending.PendingMessageCount} LBS entries are still pending in {keys.Group} on {keys.Lbs[p]}.");
            }
        }

        foreach (var stream in streams.OrderBy(s => s.Name, StringComparer.Ordinal))
        {
            if (stream.LbsId is null || !stream.Ended)
            {
                outcome.Failures.Add($"{stream.Name}: the producer did not finish it (announced {stream.LbsId ?? "never"}, ended {stream.Ended}).");
                continue;
            }

            if (remaining.Contains(stream.LbsId))
            {
                outcome.Failures.Add($"{stream.Name} ({stream.LbsId}): still in the LBS, not completed.");
            }

            if (dead.TryGetValue(stream.LbsId, out var reason))
            {
                outcome.DeadLettered.Add($"{stream.Name} ({stream.LbsId}): {reason}");
                continue;
            }

            var grants = monitor.GrantsOf(stream.LbsId);
            outcome.Grants += grants.Count;
            var summary = (await db.HashGetAllAsync($"{service}:summary:{stream.Name}")).ToDictionary(e => (string)e.Name!, e => (string)e.Value!, StringComparer.Ordinal);
            if (summary.Count == 0)
            {
                outcome.Failures.Add($"{stream.Name} ({stream.LbsId}): no summary (grants: {Describe(grants)}).");
                continue;
            }

            outcome.Summaries++;
            var sum = Field(summary, "sum");
            var count = Field(summary, "count");
            var token = Field(summary, "token");
            if (sum != stream.Sum || count != stream.Count)
            {
                outcome.Failures.Add($"{stream.Name} ({stream.LbsId}): summary sum {sum} count {count}, written sum {stream.Sum} count {stream.Count} (grants: {Describe(grants)}).");
            }

            var highest = grants.Count == 0 ? 0 : grants.Max(g => g.Token);
            if (token is null)
            {
                outcome.Failures.Add($"{stream.Name} ({stream.LbsId}): the summary has no token.");
            }
            else if (token < highest)
            {
                outcome.Failures.Add($"{stream.Name} ({stream.LbsId}): summary token {token} by {Owner(summary)} is lower than token {highest} granted for it (grants: {Describe(grants)}).");
            }
            else if (!grants.Any(g => g.Token == token) && !monitor.InGap(stream.LbsId, token.Value))
            {
                outcome.Failures.Add($"{stream.Name} ({stream.LbsId}): summary token {token} was never granted for this entry (grants: {Describe(grants)}).");
            }
        }

        return outcome;
    }

    private static long? Field(Dictionary<string, string> summary, string name) =>
        summary.TryGetValue(name, out var text) && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;

    private static string Owner(Dictionary<string, string> summary) => summary.GetValueOrDefault("owner") ?? "?";

    private static string Describe(IReadOnlyList<LeaseMonitor.Grant> grants) =>
        grants.Count == 0 ? "none seen" : string.Join(", ", grants.Select(g => $"{g.Token}@{g.ConsumerId}"));
}
