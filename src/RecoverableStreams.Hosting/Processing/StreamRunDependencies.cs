using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RecoverableStreams.Hosting.Diagnostics;
using RecoverableStreams.Hosting.Routing;

namespace RecoverableStreams.Hosting.Processing;

/// <summary>What every <see cref="StreamRun"/> of one client needs.</summary>
internal sealed record StreamRunDependencies(
    RecoverableStreamClient Client,
    RecoverableStreamOptions Options,
    RecoverableStreamsHostingOptions Hosting,
    IServiceScopeFactory ScopeFactory,
    HandlerRouter Router,
    RouteDirectory Routes,
    HandOvers HandOvers,
    HostingMetrics Metrics,
    StreamRunTelemetry Telemetry,
    DistributedContextPropagator? Propagator,
    TimeProvider Time,
    ILogger Logger);
