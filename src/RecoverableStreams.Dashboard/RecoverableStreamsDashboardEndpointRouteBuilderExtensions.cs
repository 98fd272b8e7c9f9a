using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RecoverableStreams;
using RecoverableStreams.Administration;
using RecoverableStreams.Dashboard;
using StackExchange.Redis;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the RecoverableStreams dashboard: one HTML page and the JSON it refreshes itself from.</summary>
public static class RecoverableStreamsDashboardEndpointRouteBuilderExtensions
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// Maps a live dashboard of one service at <paramref name="pattern"/> (the page) and <c>{pattern}/data</c> (its
    /// JSON): consumers with their heartbeat age, owners with token and deadline, the LBS length, lag and pending, and
    /// the oldest dead letters. The page is read-only and refreshes itself every <paramref name="refreshInterval"/>.
    /// </summary>
    /// <remarks>
    /// The service is read with the <see cref="RecoverableStreamsAdmin"/> registered in the services when there is
    /// one, otherwise with the registered <see cref="IConnectionMultiplexer"/> and
    /// <see cref="RecoverableStreamOptions"/> (<c>IOptions</c>). Nothing is resolved until the first request. The page
    /// shows stream names and consumer names: protect it like any operator page (e.g. <c>.RequireAuthorization()</c>
    /// on the returned builder).
    /// </remarks>
    /// <param name="endpoints">The application or route group.</param>
    /// <param name="pattern">Where the page is served.</param>
    /// <param name="refreshInterval">How often the page fetches new data; at least 0.5 s. The default is 2 seconds.</param>
    /// <returns>The route group of both endpoints, for authorization and other conventions.</returns>
    public static RouteGroupBuilder MapRecoverableStreamsDashboard(this IEndpointRouteBuilder endpoints, string pattern = "/rstreams", TimeSpan? refreshInterval = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrWhiteSpace(pattern);
        var refresh = refreshInterval ?? TimeSpan.FromSeconds(2);
        ArgumentOutOfRangeException.ThrowIfLessThan(refresh, TimeSpan.FromMilliseconds(500), nameof(refreshInterval));

        var admin = new Lazy<RecoverableStreamsAdmin>(() => ResolveAdmin(endpoints.ServiceProvider), LazyThreadSafetyMode.ExecutionAndPublication);
        var page = DashboardPage.Render(((long)refresh.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));

        var group = endpoints.MapGroup(pattern);
        group.MapGet("/", () => Results.Text(page, "text/html; charset=utf-8"));
        group.MapGet("/data", async (HttpContext context) =>
        {
            context.Response.Headers.CacheControl = "no-store";
            try
            {
                var snapshot = await DashboardSnapshot.ReadAsync(admin.Value, context.RequestAborted).ConfigureAwait(false);
                return Results.Json(snapshot, Json);
            }
            catch (RecoverableStreamsException ex)
            {
                // The page shows the problem and keeps refreshing; Redis may come back.
                return Results.Json(new { error = ex.Message }, Json, statusCode: StatusCodes.Status503ServiceUnavailable);
            }
        });
        return group;
    }

    private static RecoverableStreamsAdmin ResolveAdmin(IServiceProvider services)
    {
        if (services.GetService<RecoverableStreamsAdmin>() is { } registered)
        {
            return registered;
        }

        var redis = services.GetService<IConnectionMultiplexer>()
            ?? throw new InvalidOperationException("The RecoverableStreams dashboard needs a RecoverableStreamsAdmin or an IConnectionMultiplexer registered in the services.");
        var options = services.GetService<IOptions<RecoverableStreamOptions>>()?.Value
            ?? throw new InvalidOperationException("The RecoverableStreams dashboard needs RecoverableStreamOptions (IOptions) or a RecoverableStreamsAdmin registered in the services.");
        return new RecoverableStreamsAdmin(redis, options);
    }
}
