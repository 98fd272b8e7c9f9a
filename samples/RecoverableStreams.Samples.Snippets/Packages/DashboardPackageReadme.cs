using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RecoverableStreams.Hosting;

namespace RecoverableStreams.Samples.Snippets.Packages;

/// <summary>The C# of src/RecoverableStreams.Dashboard/README.md (the package's page), compiled.</summary>
public static class DashboardPackageReadme
{
    public static void Main(string[] args)
    {
        // snippet: package-dashboard
        var builder = WebApplication.CreateBuilder(args);
        builder.AddRecoverableRedisStreams("redis").AddHandler<TelemetryHandler>();

        var app = builder.Build();
        app.MapRecoverableStreamsDashboard("/rstreams");   // the page (JSON at /rstreams/data); local requests only
        app.MapRecoverableStreamsDashboard("/ops/rstreams", o => o.AuthorizationPolicy = "operators");   // or your policy
        app.Run();
        // end snippet
    }

    private sealed class TelemetryHandler : IStreamWorkHandler
    {
        public Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
