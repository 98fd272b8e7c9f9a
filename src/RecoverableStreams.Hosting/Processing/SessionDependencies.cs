using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RecoverableStreams.Hosting.Diagnostics;
using RecoverableStreams.Hosting.Lifecycle;
using RecoverableStreams.Hosting.Routing;

namespace RecoverableStreams.Hosting.Processing;

/// <summary>What every <see cref="StreamSession"/> of one client needs.</summary>
internal sealed record SessionDependencies(
    RecoverableStreamClient Client,
    RecoverableStreamOptions Options,
    IServiceScopeFactory ScopeFactory,
    HandlerRouter Router,
    RouteDirectory Routes,
    HandOvers HandOvers,
    HostingMetrics Metrics,
    LifecycleNotifier Notifier,
    TimeProvider Time,
    ILogger Logger);
