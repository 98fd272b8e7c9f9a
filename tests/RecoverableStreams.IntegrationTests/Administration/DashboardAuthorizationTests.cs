using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RecoverableStreams.Administration;
using RecoverableStreams.Dashboard;
using RecoverableStreams.Dashboard.Authorization;
using RecoverableStreams.IntegrationTests.Infrastructure;

namespace RecoverableStreams.IntegrationTests.Administration;

/// <summary>
/// Who may see the dashboard: local requests only by default (Hangfire's model), the app's filters or policy otherwise.
/// A remote caller is simulated by rewriting the connection's remote address before routing, as the forwarded-headers
/// middleware does behind a proxy.
/// </summary>
public sealed class DashboardAuthorizationTests : SharedRedisTest
{
    private static readonly IPAddress Remote = IPAddress.Parse("203.0.113.7");

    [Test]
    public async Task By_default_only_local_requests_are_answered()
    {
        await using var app = await StartAsync(remote: false, configure: null);
        using var http = new HttpClient { BaseAddress = new Uri(DashboardBrowser.AddressOf(app)) };
        Assert.That((int)(await http.GetAsync("/rstreams")).StatusCode, Is.EqualTo(200), "a loopback caller sees the page");
        Assert.That((int)(await http.GetAsync("/rstreams/data")).StatusCode, Is.EqualTo(200), "and its data");

        await using var remote = await StartAsync(remote: true, configure: null);
        using var remoteHttp = new HttpClient { BaseAddress = new Uri(DashboardBrowser.AddressOf(remote)) };
        Assert.That((int)(await remoteHttp.GetAsync("/rstreams")).StatusCode, Is.EqualTo(401), "an anonymous remote caller is refused the page");
        var data = await remoteHttp.GetAsync("/rstreams/data");
        Assert.That((int)data.StatusCode, Is.EqualTo(401), "and the data");
        Assert.That(await data.Content.ReadAsStringAsync(), Does.Not.Contain("consumers"));
    }

    [Test]
    public async Task The_app_s_filters_replace_the_local_only_default()
    {
        await using var open = await StartAsync(remote: true, o => o.Authorization = [new HeaderFilter()]);
        using var http = new HttpClient { BaseAddress = new Uri(DashboardBrowser.AddressOf(open)) };
        Assert.That((int)(await http.GetAsync("/rstreams/data")).StatusCode, Is.EqualTo(401), "the filter refuses a request without its header");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/rstreams/data") { Headers = { { "X-Operator", "yes" } } };
        Assert.That((int)(await http.SendAsync(request)).StatusCode, Is.EqualTo(200), "the app's filter lets a remote operator in");
    }

    [Test]
    public void The_local_filter_refuses_a_request_without_a_remote_address_or_from_another_machine()
    {
        var filter = new LocalRequestsOnlyAuthorizationFilter();
        var context = new DefaultHttpContext();
        Assert.That(filter.Authorize(context), Is.False, "no remote address");
        context.Connection.RemoteIpAddress = Remote;
        context.Connection.LocalIpAddress = IPAddress.Parse("198.51.100.1");
        Assert.That(filter.Authorize(context), Is.False, "another machine");
        context.Connection.RemoteIpAddress = IPAddress.IPv6Loopback;
        Assert.That(filter.Authorize(context), Is.True, "::1");
        context.Connection.RemoteIpAddress = IPAddress.Parse("198.51.100.1");
        Assert.That(filter.Authorize(context), Is.True, "this machine's own address");
    }

    private async Task<WebApplication> StartAsync(bool remote, Action<RecoverableStreamsDashboardOptions>? configure)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(new RecoverableStreamsAdmin(Redis, TestOptions.For()));
        var app = builder.Build();
        if (remote)
        {
            app.Use((context, next) =>
            {
                context.Connection.RemoteIpAddress = Remote;
                return next(context);
            });
        }

        app.MapRecoverableStreamsDashboard("/rstreams", configure);
        await app.StartAsync();
        return app;
    }

    private sealed class HeaderFilter : IDashboardAuthorizationFilter
    {
        public bool Authorize(HttpContext context) => context.Request.Headers["X-Operator"] == "yes";
    }
}
