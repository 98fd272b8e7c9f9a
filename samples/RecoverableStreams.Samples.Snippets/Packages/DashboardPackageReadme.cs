using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using RecoverableStreams.Administration;
using StackExchange.Redis;

namespace RecoverableStreams.Samples.Snippets.Packages;

/// <summary>The C# of src/RecoverableStreams.Dashboard/README.md (the package's page), compiled.</summary>
public static class DashboardPackageReadme
{
    public static void Main(string[] args)
    {
        // snippet: package-dashboard
        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect("localhost:6379"));
        builder.Services.AddSingleton(sp => new RecoverableStreamsAdmin(
            sp.GetRequiredService<IConnectionMultiplexer>(),
            new RecoverableStreamOptions { ServiceName = "telemetry" }));

        var app = builder.Build();
        app.MapRecoverableStreamsDashboard("/rstreams")   // the page; its JSON is at /rstreams/data
           .RequireAuthorization();                        // it shows stream and consumer names: protect it
        app.Run();
        // end snippet
    }
}
