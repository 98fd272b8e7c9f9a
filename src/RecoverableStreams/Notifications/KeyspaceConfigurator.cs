using RecoverableStreams.Diagnostics;
using StackExchange.Redis;

namespace RecoverableStreams.Notifications;

/// <summary>
/// Applies <see cref="RecoverableStreamOptions.KeyspaceNotifications"/> on every primary: <c>Merge</c> adds the flags
/// this library uses (<c>K</c> keyspace channel, <c>E</c> keyevent channel, <c>t</c> stream and <c>x</c> expired events)
/// to what is set and never removes any; <c>VerifyOnly</c> warns; <c>Off</c> never touches CONFIG. A CONFIG failure
/// (managed Redis, no <c>allowAdmin</c>, renamed command) is a warning: only wake-ups get slower.
/// </summary>
internal sealed class KeyspaceConfigurator(ClientContext context)
{
    private const string Setting = "notify-keyspace-events";

    /// <summary>
    /// Applies the mode; returns whether every primary is known to have the flags afterwards (so <c>xadd</c> events
    /// of data streams arrive and their safety poll can be rare).
    /// </summary>
    public async Task<bool> EnsureAsync()
    {
        var mode = context.Options.KeyspaceNotifications;
        if (mode == KeyspaceNotificationsMode.Off)
        {
            return false;
        }

        var confirmed = true;
        var checkedAny = false;
        foreach (var server in context.Redis.GetServers())
        {
            if (server.IsReplica || !server.IsConnected)
            {
                continue;
            }

            try
            {
                var current = (await server.ConfigGetAsync(Setting).ConfigureAwait(false)).FirstOrDefault().Value ?? "";
                var merged = Merge(current);
                checkedAny = true;
                if (merged == current)
                {
                    continue;
                }

                if (mode == KeyspaceNotificationsMode.VerifyOnly)
                {
                    Log.KeyspaceFlagsMissing(context.Logger, server.EndPoint.ToString() ?? "", current, merged);
                    confirmed = false;
                    continue;
                }

                await server.ConfigSetAsync(Setting, merged).ConfigureAwait(false);
                Log.KeyspaceFlagsMerged(context.Logger, server.EndPoint.ToString() ?? "", current, merged);
            }
            // RedisCommandException (no allowAdmin) does not derive from RedisException.
            catch (Exception ex) when (ex is RedisException or RedisCommandException or NotSupportedException or ArgumentException)
            {
                Log.KeyspaceConfigUnavailable(context.Logger, server.EndPoint.ToString() ?? "", ex);
                confirmed = false;
            }
        }

        return confirmed && checkedAny;
    }

    /// <summary>The flags to set: the current ones plus what is missing, never fewer.</summary>
    public static string Merge(string current)
    {
        // 'A' stands for every event class, 'x' and 't' included.
        var hasAll = current.Contains('A', StringComparison.Ordinal);
        var merged = current;
        if (!current.Contains('K', StringComparison.Ordinal))
        {
            merged += "K";
        }

        if (!current.Contains('E', StringComparison.Ordinal))
        {
            merged += "E";
        }

        if (!hasAll && !current.Contains('t', StringComparison.Ordinal))
        {
            merged += "t";
        }

        if (!hasAll && !current.Contains('x', StringComparison.Ordinal))
        {
            merged += "x";
        }

        return merged;
    }
}
