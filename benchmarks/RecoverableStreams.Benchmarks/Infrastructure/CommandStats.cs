using System.Globalization;
using StackExchange.Redis;

namespace RecoverableStreams.Benchmarks.Infrastructure;

/// <summary>Script calls from <c>INFO commandstats</c> (EVAL and EVALSHA together), since the last <c>CONFIG RESETSTAT</c>.</summary>
internal static class CommandStats
{
    public static Task ResetAsync(IServer server) => server.ConfigResetStatisticsAsync();

    public static async Task<(long Calls, double UsecPerCall)> ScriptsAsync(IServer server)
    {
        var info = await server.InfoAsync("commandstats");
        long calls = 0;
        double usec = 0;
        foreach (var pair in info.SelectMany(g => g))
        {
            if (pair.Key is not ("cmdstat_eval" or "cmdstat_evalsha"))
            {
                continue;
            }

            // calls=12,usec=345,usec_per_call=28.75,rejected_calls=0,failed_calls=0
            var fields = pair.Value.Split(',').Select(f => f.Split('=')).ToDictionary(f => f[0], f => f[1], StringComparer.Ordinal);
            calls += long.Parse(fields["calls"], CultureInfo.InvariantCulture);
            usec += double.Parse(fields["usec"], CultureInfo.InvariantCulture);
        }

        return (calls, calls == 0 ? 0 : usec / calls);
    }
}
