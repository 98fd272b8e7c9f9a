using System.Diagnostics;
using System.Reflection;
using RecoverableStreams.Benchmarks.Infrastructure;
using RecoverableStreams.Leasing;
using StackExchange.Redis;

namespace RecoverableStreams.Benchmarks.Scenarios;

/// <summary>
/// The cost of holding M leases on one consumer: script calls Redis sees per renew interval in steady state (INFO
/// commandstats over a window; renewal plus the deadline scheduler's look-ups), and the duration of one renewal
/// round trip (<see cref="ConsumerSession.StepAsync"/> timed on the running client's own state).
/// </summary>
internal static class RenewalScenario
{
    public static async Task<IReadOnlyList<ResultTable>> RunAsync(IConnectionMultiplexer redis, BenchArguments args)
    {
        var sizes = args.Ints("leases", 10, 100, 1000, 5000);
        var lease = TimeSpan.FromSeconds(args.Double("lease-seconds", 3));
        var window = TimeSpan.FromSeconds(args.Double("window-seconds", 6));
        var rounds = args.Int("rounds", 30);
        var server = redis.GetServers()[0];
        var table = new ResultTable(
            $"renewal: one consumer holding M leases, LeaseDuration {lease.TotalSeconds:F0} s (renew every {(lease / 3).TotalMilliseconds:F0} ms), window {window.TotalSeconds:F0} s",
            "leases (M)", "script calls / renew interval", "script usec/call (Redis)", "StepAsync p50", "p95", "max");

        foreach (var m in sizes)
        {
            var options = new RecoverableStreamOptions
            {
                ServiceName = $"renewal-{Guid.NewGuid():N}",
                LeaseDuration = lease,
                MaxConcurrentStreams = m,
                ReconcileInterval = TimeSpan.FromMinutes(10),
            };
            await using (var consumer = await BenchConsumer.StartAsync(redis, options))
            {
                await LbsSeeder.AddStreamsAsync(redis, options, m, options.ServiceName + "-data");
                await Wait.UntilAsync(() => consumer.Client.OwnedStreams.Count == m, TimeSpan.FromSeconds(120), $"{m} owned streams", 20);

                // Steady state: only renewals and the scheduler's sleeps until the next deadline remain.
                await CommandStats.ResetAsync(server);
                await Task.Delay(window);
                var (calls, usecPerCall) = await CommandStats.ScriptsAsync(server);
                var intervals = window / (lease / 3);

                var renewer = RenewerOf(consumer.Client);
                var durations = new List<double>(rounds);
                for (var i = 0; i < rounds; i++)
                {
                    var started = Stopwatch.GetTimestamp();
                    await renewer.StepAsync();
                    durations.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }

                table.Add(
                    m,
                    $"{calls / intervals:F1}",
                    $"{usecPerCall:F0}",
                    Stats.Ms(Stats.Percentile(durations, 50)),
                    Stats.Ms(Stats.Percentile(durations, 95)),
                    Stats.Ms(durations.Max()));
                if (consumer.Client.OwnedStreams.Count != m)
                {
                    table.Note($"M={m}: only {consumer.Client.OwnedStreams.Count} leases still owned at the end.");
                }
            }

            await server.FlushDatabaseAsync();
            Console.WriteLine($"  renewal, {m} leases done");
        }

        table.Note("Script calls counted from INFO commandstats (EVAL + EVALSHA) over the window; usec/call is Redis' own execution time per script call (all scripts of the window, dominated by renew).");
        table.Note($"StepAsync (one session renewal): {rounds} sequential calls on the running client's registry (client side: building arguments, the round trip, processing the reply).");
        return [table];
    }

    /// <summary>The client's own session owner (an internal field; the benchmark is not part of the public contract).</summary>
    private static ConsumerSession RenewerOf(RecoverableStreamClient client)
    {
        const BindingFlags Flags = BindingFlags.Instance | BindingFlags.NonPublic;
        return (ConsumerSession)(typeof(RecoverableStreamClient).GetField("_session", Flags)?.GetValue(client)
            ?? throw new InvalidOperationException("RecoverableStreamClient._session not found; update RenewalScenario."));
    }
}
