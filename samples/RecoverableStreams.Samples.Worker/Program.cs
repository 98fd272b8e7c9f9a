using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RecoverableStreams.Samples.Worker;

// Configuration as a pod gets it: appsettings.json, then environment variables (RecoverableStreams__LeaseDuration=00:00:02,
// ConnectionStrings__Redis=redis:6379). The consumer id comes from POD_NAME (the core's default).
var builder = Host.CreateApplicationBuilder(args);
builder.Services.AddTelemetryWorker(builder.Configuration);
// Traces and metrics: Telemetry__Exporter=Console or Otlp (with Telemetry__OtlpEndpoint=http://collector:4317); off by default.
builder.AddWorkerOpenTelemetry();
await builder.Build().RunAsync();
