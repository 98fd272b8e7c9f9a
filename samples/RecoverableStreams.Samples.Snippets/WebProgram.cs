using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace RecoverableStreams.Samples.Snippets;

public static class WebProgram
{
    public static void Main(string[] args)
    {
        // snippet: web-program
        var builder = WebApplication.CreateBuilder(args);

        builder.AddRecoverableRedisStreams("Redis")        // ConnectionStrings:Redis; options from "RecoverableStreams"
            .AddHandler<OrderHandler>()                     // the default route
            .AddHandler<RefundHandler>("refund:*")          // a glob on the data stream name; the most specific wins
            .AddRecoverableStreamPublisher();               // IStreamPublisher, same ServiceName, Database and connection
        builder.Services.AddSingleton<OrderTotals>();
        builder.Services.AddHealthChecks().AddRecoverableStreamsHealthCheck();
        builder.Services.AddOpenTelemetry()
            .WithTracing(tracing => tracing.AddRecoverableStreamsInstrumentation().AddOtlpExporter())
            .WithMetrics(metrics => metrics.AddRecoverableStreamsInstrumentation().AddOtlpExporter());

        var app = builder.Build();
        app.MapHealthChecks("/healthz");
        app.MapPost("/orders/{id}", async (string id, IStreamPublisher publisher) =>
            Results.Accepted(value: await publisher.AddStreamAsync("order:" + id)));   // the handler's trace continues this one
        app.Run();
        // end snippet
    }
}
