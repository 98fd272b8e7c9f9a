namespace RecoverableStreams.Dashboard;

/// <summary>
/// The dashboard's single page (<c>dashboard.html</c>, embedded): plain HTML, CSS and JavaScript with no build step.
/// Values are written with <c>textContent</c>, never as HTML, so stream names cannot inject markup.
/// </summary>
internal static class DashboardPage
{
    private const string RefreshPlaceholder = "__REFRESH_MS__";

    public static string Render(string refreshMilliseconds)
    {
        using var stream = typeof(DashboardPage).Assembly.GetManifestResourceStream("RecoverableStreams.Dashboard.dashboard.html")
            ?? throw new InvalidOperationException("The embedded dashboard page is missing.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Replace(RefreshPlaceholder, refreshMilliseconds, StringComparison.Ordinal);
    }
}
