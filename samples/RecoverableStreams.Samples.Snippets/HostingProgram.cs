using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace RecoverableStreams.Samples.Snippets;

public static class HostingProgram
{
    public static async Task Main(string[] args)
    {
        // snippet: hosting-program
        var builder = Host.CreateApplicationBuilder(args);

        builder.AddRecoverableRedisStreams("Redis")         // ConnectionStrings:Redis; options from "RecoverableStreams"
            .AddHandler<OrderHandler>()                     // the default route
            .AddHandler<RefundHandler>("refund:*");         // a glob on the data stream name; the most specific wins
        builder.Services.AddHealthChecks().AddRecoverableStreamsHealthCheck();
        builder.Services.AddSingleton<OrderTotals>();

        await builder.Build().RunAsync();
        // end snippet
    }
}
