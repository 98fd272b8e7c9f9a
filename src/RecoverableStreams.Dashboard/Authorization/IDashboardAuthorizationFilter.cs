using Microsoft.AspNetCore.Http;

namespace RecoverableStreams.Dashboard.Authorization;

/// <summary>
/// Decides whether a request may see the dashboard (the model of Hangfire's dashboard filters): every filter of
/// <see cref="RecoverableStreamsDashboardOptions.Authorization"/> must allow it.
/// </summary>
public interface IDashboardAuthorizationFilter
{
    /// <summary>Returns whether <paramref name="context"/>'s request may see the page and its data.</summary>
    /// <param name="context">The request.</param>
    /// <returns><see langword="true"/> to serve it; <see langword="false"/> answers 401 (anonymous) or 403.</returns>
    bool Authorize(HttpContext context);
}
