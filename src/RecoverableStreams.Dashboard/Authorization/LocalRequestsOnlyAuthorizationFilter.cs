using System.Net;
using Microsoft.AspNetCore.Http;

namespace RecoverableStreams.Dashboard.Authorization;

/// <summary>
/// The default filter: allows requests from the machine itself only (a loopback remote address, or the remote
/// address equal to the local one), as Hangfire's dashboard does. Behind a reverse proxy on the same machine every
/// request looks local: give the dashboard a policy or filters of its own there.
/// </summary>
public sealed class LocalRequestsOnlyAuthorizationFilter : IDashboardAuthorizationFilter
{
    /// <inheritdoc/>
    public bool Authorize(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var remote = context.Connection.RemoteIpAddress;
        // No remote address (an in-memory test server, a pipe) is not evidence of a local caller.
        return remote is not null && (IPAddress.IsLoopback(remote) || remote.Equals(context.Connection.LocalIpAddress));
    }
}
