using RecoverableStreams.Dashboard.Authorization;

namespace RecoverableStreams.Dashboard;

/// <summary>How the dashboard is served: its refresh, how many owners a refresh reads, and who may see it.</summary>
public sealed class RecoverableStreamsDashboardOptions
{
    /// <summary>Gets or sets how often the page fetches new data; at least 0.5 s.</summary>
    /// <value>The default is 2 seconds.</value>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Gets or sets the most owned streams one refresh reads and shows: the reads stay bounded whatever the number of
    /// owners, and the page says how many more there are.
    /// </summary>
    /// <value>The default is 200.</value>
    public int MaxOwners { get; set; } = 200;

    /// <summary>
    /// Gets or sets the name of an ASP.NET Core authorization policy the page and its data require. When it is set and
    /// <see cref="Authorization"/> is left unset, the policy alone decides (the local-only default no longer applies).
    /// </summary>
    /// <value>The default is <see langword="null"/>: no policy.</value>
    public string? AuthorizationPolicy { get; set; }

    /// <summary>
    /// Gets or sets the filters that must all allow a request. Unset, it is <see cref="LocalRequestsOnlyAuthorizationFilter"/>
    /// when no <see cref="AuthorizationPolicy"/> is given, and nothing when one is: the dashboard is never anonymous by
    /// default. An empty list opens it to everyone who can reach the app.
    /// </summary>
    /// <value>The default is <see langword="null"/> (see above).</value>
    public IReadOnlyList<IDashboardAuthorizationFilter>? Authorization { get; set; }

    internal IReadOnlyList<IDashboardAuthorizationFilter> EffectiveAuthorization =>
        Authorization ?? (AuthorizationPolicy is null ? [new LocalRequestsOnlyAuthorizationFilter()] : []);
}
