using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using RecoverableStreams;
using RecoverableStreams.Administration;
using RecoverableStreams.Samples.Api;
using StackExchange.Redis;

var builder = WebApplication.CreateBuilder(args);
var connectionString = builder.Configuration.GetConnectionString("Redis")
    ?? throw new InvalidOperationException("ConnectionStrings:Redis is not set (environment: ConnectionStrings__Redis).");
var runHandlers = builder.Configuration.GetValue<bool>("Samples:RunHandlers");

if (runHandlers)
{
    // The same handler as the worker sample, in this process: the API is then also a consumer of the service.
    builder.Services.AddTelemetryWorker(builder.Configuration);
}
else
{
    builder.Services.AddOptions<RecoverableStreamOptions>().Bind(builder.Configuration.GetSection("RecoverableStreams"));
}

builder.Services.TryAddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(connectionString));
builder.Services.AddSingleton(sp => new StreamPublisher(sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<IOptions<RecoverableStreamOptions>>().Value));
// The operator API: who owns what, heartbeats, lag and dead letters, without knowing the key layout. The dashboard
// below uses the same registration.
builder.Services.AddSingleton(sp => new RecoverableStreamsAdmin(sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<IOptions<RecoverableStreamOptions>>().Value));

// With RunHandlers, AddTelemetryWorker has also registered the consumer's own health check.
builder.Services.AddHealthChecks().AddCheck<RedisHealthCheck>("redis");

var app = builder.Build();

app.MapPost("/streams", async (AnnounceRequest request, StreamPublisher publisher, CancellationToken cancellationToken) =>
{
    if (string.IsNullOrWhiteSpace(request.DataStreamName))
    {
        return Results.ValidationProblem(new Dictionary<string, string[]> { ["dataStreamName"] = ["Required."] });
    }

    try
    {
        var id = await publisher.AddStreamAsync(request.DataStreamName, request.InfoAsDictionary(), cancellationToken);
        return Results.Created($"/streams/{Uri.EscapeDataString(id)}", new { dataStreamName = request.DataStreamName, idInLbs = id });
    }
    catch (ArgumentException ex)
    {
        return Results.ValidationProblem(new Dictionary<string, string[]> { ["request"] = [ex.Message] });
    }
});

app.MapGet("/streams", async (RecoverableStreamsAdmin admin, CancellationToken cancellationToken) =>
    new StreamsView(await admin.GetStatusAsync(cancellationToken), await admin.GetOwnersAsync(cancellationToken)));

// A live page of consumers, owners, lag and dead letters at /rstreams (read-only; this sample has no authentication,
// so it binds to 127.0.0.1: see samples/README.md).
app.MapRecoverableStreamsDashboard();

app.MapHealthChecks("/healthz");

await app.RunAsync();
