using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Hosting;

/// <summary>Generic hosts for the hosting tests: empty defaults, options from in-memory configuration.</summary>
internal static class TestHosts
{
    public static HostApplicationBuilder NewBuilder(string service, string? connection = null, TimeSpan? lease = null, string? consumerId = null, IDictionary<string, string?>? settings = null)
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, EnvironmentName = "Test" });
        var values = new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = connection ?? SharedRedis.Server.ConnectionString,
            ["RecoverableStreams:ServiceName"] = service,
            ["RecoverableStreams:ConsumerId"] = consumerId ?? "h-" + Guid.NewGuid().ToString("N")[..8],
            ["RecoverableStreams:LeaseDuration"] = (lease ?? TimeSpan.FromSeconds(2)).ToString("c", CultureInfo.InvariantCulture),
            ["RecoverableStreams:SweepInterval"] = "00:00:01",
            ["RecoverableStreams:PollInterval"] = "00:00:00.5",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values["RecoverableStreams:" + key] = value;
        }

        builder.Configuration.AddInMemoryCollection(values);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        return builder;
    }

    public static StreamPublisher Publisher(IConnectionMultiplexer redis, string service) => new(redis, new RecoverableStreamOptions { ServiceName = service });

    /// <summary>The dead-letter stream of a service with the default LBS key: <c>{&lt;service&gt;-input}:dead</c>.</summary>
    public static string DeadLetterKey(string service) => "{" + service + "-input}:dead";

    public static string LbsKey(string service) => service + "-input";

    /// <summary>The ownership records hash (docs/ARCHITECTURE.md): field = LBS entry id, value = <c>sessionId|token</c>.</summary>
    public static string OwnersKey(string service) => "{" + service + "-input}:owners";

    /// <summary>The sessions sorted set: member = session id, score = deadline (ms, Redis clock).</summary>
    public static string SessionsKey(string service) => "{" + service + "-input}:sessions";

    public static string AttemptsKey(string service) => "{" + service + "-input}:attempts";
}

/// <summary>What handlers saw, shared between a host and its test.</summary>
internal sealed class Recorder
{
    public ConcurrentQueue<Visit> Visits { get; } = new();

    public IReadOnlyList<Visit> For(string stream) => Visits.Where(v => v.Stream == stream).ToArray();

    public void Add(Visit visit) => Visits.Enqueue(visit);
}

internal sealed record Visit(string Handler, string Stream, string ConsumerId, LeaseOrigin Origin, int Attempt, object? Detail = null);
