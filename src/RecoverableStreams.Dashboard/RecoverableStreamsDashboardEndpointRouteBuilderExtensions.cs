using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RecoverableStreams;
using RecoverableStreams.Administration;
using RecoverableStreams.Dashboard;
using StackExchange.Redis;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the RecoverableStreams dashboard: one HTML page and the JSON it refreshes itself from.</summary>
public static class RecoverableStreamsDashboardEndpointRouteBuilderExtensions
{
    private const string Unavailable = "The service's state cannot be read right now; the application's log says why.";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// Maps a live dashboard of the app's default service at <paramref name="pattern"/> (the page) and
    /// <c>{pattern}/data</c> (its JSON): consumers with their heartbeat age, owners with token and deadline (at most
    /// <see cref="RecoverableStreamsDashboardOptions.MaxOwners"/> per refresh), the LBS length, lag and pending, and the
    /// oldest dead letters. The page is read-only and refreshes itself.
    /// </summary>
    /// <remarks>
    /// In an app with <c>builder.AddRecoverableRedisStreams("redis")</c> the dashboard reads that service with its
    /// connection and options, with no other line. Otherwise it uses a registered <see cref="RecoverableStreamsAdmin"/>,
    /// else the registered <see cref="IConnectionMultiplexer"/> and <see cref="RecoverableStreamOptions"/>. Nothing is
    /// resolved until a request comes, and a failure is not remembered: the next request tries again. By default only
    /// local requests are answered (see <see cref="RecoverableStreamsDashboardOptions.Authorization"/>); when Redis
    /// cannot be read the data answers 503 with a generic message and the details go to the log.
    /// </remarks>
    /// <param name="endpoints">The application or route group.</param>
    /// <param name="pattern">Where the page is served.</param>
    /// <param name="configure">Sets the refresh, the owners' cap and the authorization.</param>
    /// <returns>The route group of both endpoints, for further conventions.</returns>
    public static RouteGroupBuilder MapRecoverableStreamsDashboard(this IEndpointRouteBuilder endpoints, string pattern = "/rstreams", Action<RecoverableStreamsDashboardOptions>? configure = null) =>
        Map(endpoints, pattern, serviceKey: null, configure);

    /// <summary>
    /// Maps a dashboard of one of several services of the app: the one added with
    /// <c>builder.AddKeyedRecoverableRedisStreams(serviceKey, ...)</c> (or a keyed <see cref="RecoverableStreamsAdmin"/>
    /// registered with that key); otherwise as <see cref="MapRecoverableStreamsDashboard"/>.
    /// </summary>
    /// <param name="endpoints">The application or route group.</param>
    /// <param name="serviceKey">The service's key.</param>
    /// <param name="pattern">Where the page is served.</param>
    /// <param name="configure">Sets the refresh, the owners' cap and the authorization.</param>
    /// <returns>The route group of both endpoints, for further conventions.</returns>
    public static RouteGroupBuilder MapKeyedRecoverableStreamsDashboard(this IEndpointRouteBuilder endpoints, string serviceKey, string pattern, Action<RecoverableStreamsDashboardOptions>? configure = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(serviceKey);
        return Map(endpoints, pattern, serviceKey, configure);
    }

    private static RouteGroupBuilder Map(IEndpointRouteBuilder endpoints, string pattern, string? serviceKey, Action<RecoverableStreamsDashboardOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrWhiteSpace(pattern);
        var options = new RecoverableStreamsDashboardOptions();
        configure?.Invoke(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.RefreshInterval, TimeSpan.FromMilliseconds(500), "RefreshInterval");
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxOwners, "MaxOwners");

        var page = DashboardPage.Render(((long)options.RefreshInterval.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));
        var filters = options.EffectiveAuthorization;
        var services = endpoints.ServiceProvider;
        var logger = services.GetService<ILoggerFactory>()?.CreateLogger("RecoverableStreams.Dashboard") ?? NullLogger.Instance;

        var group = endpoints.MapGroup(pattern);
        group.AddEndpointFilter(async (context, next) =>
        {
            foreach (var filter in filters)
            {
                if (!filter.Authorize(context.HttpContext))
                {
                    return context.HttpContext.User.Identity?.IsAuthenticated == true ? Results.StatusCode(StatusCodes.Status403Forbidden) : Results.StatusCode(StatusCodes.Status401Unauthorized);
                }
            }

            return await next(context).ConfigureAwait(false);
        });
        if (options.AuthorizationPolicy is { } policy)
        {
            group.RequireAuthorization(policy);
        }

        group.MapGet("/", () => Results.Text(page, "text/html; charset=utf-8"));
        group.MapGet("/data", async (HttpContext context) =>
        {
            context.Response.Headers.CacheControl = "no-store";
            try
            {
                // Resolved per request (a singleton lookup): a registration that failed is tried again, not cached.
                var admin = ResolveAdmin(services, serviceKey);
                var snapshot = await DashboardSnapshot.ReadAsync(admin, options.MaxOwners, context.RequestAborted).ConfigureAwait(false);
                return Results.Json(snapshot, Json);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
            {
                // Never the exception's text: it can name end points, the client name or the ACL user.
                Log.ReadFailed(logger, serviceKey ?? "(default)", ex);
                return Results.Json(new { error = Unavailable }, Json, statusCode: StatusCodes.Status503ServiceUnavailable);
            }
        });
        return group;
    }

    private static RecoverableStreamsAdmin ResolveAdmin(IServiceProvider services, string? serviceKey)
    {
        if (serviceKey is not null)
        {
            return services.GetKeyedService<RecoverableStreamsAdmin>(serviceKey)
                ?? throw new InvalidOperationException($"The RecoverableStreams dashboard found no service '{serviceKey}': add it with AddKeyedRecoverableRedisStreams(\"{serviceKey}\", ...) or register a keyed RecoverableStreamsAdmin.");
        }

        if (services.GetService<RecoverableStreamsAdmin>() is { } registered)
        {
            return registered;
        }

        var redis = services.GetService<IConnectionMultiplexer>()
            ?? throw new InvalidOperationException("The RecoverableStreams dashboard needs AddRecoverableRedisStreams, a RecoverableStreamsAdmin, or an IConnectionMultiplexer registered in the services.");
        var options = services.GetService<IOptions<RecoverableStreamOptions>>()?.Value
            ?? throw new InvalidOperationException("The RecoverableStreams dashboard needs RecoverableStreamOptions (IOptions) or a RecoverableStreamsAdmin registered in the services.");
        return new RecoverableStreamsAdmin(redis, options);
    }
}
