using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using RecoverableStreams.Hosting;
using RecoverableStreams.IntegrationTests.Infrastructure;

namespace RecoverableStreams.IntegrationTests.Hosting;

/// <summary>
/// Health checks, tracing and metrics are on by default, as Aspire's client integrations have them, and each has a
/// <c>Disable*</c> switch bound from the service's section. Nothing here connects to Redis: the registrations alone.
/// </summary>
public sealed class AspireDefaultsTests
{
    public enum ExplicitCall
    {
        None,
        Before,
        After,
        Twice,
    }

    [TestCase(ExplicitCall.None)]
    [TestCase(ExplicitCall.Before)]
    [TestCase(ExplicitCall.After)]
    [TestCase(ExplicitCall.Twice)]
    public void The_health_check_is_added_by_default_and_once_however_AddRecoverableStreamsHealthCheck_is_also_called(ExplicitCall call)
    {
        var builder = TestHosts.NewBuilder(TestOptions.NewServiceName());
        if (call is ExplicitCall.Before or ExplicitCall.Twice)
        {
            builder.Services.AddHealthChecks().AddRecoverableStreamsHealthCheck(tags: ["ready"]);
        }

        builder.Services.AddRecoverableRedisStreams().AddHandler<DiagnosticsTests.NoOpHandler>();
        if (call is ExplicitCall.After or ExplicitCall.Twice)
        {
            builder.Services.AddHealthChecks().AddRecoverableStreamsHealthCheck(tags: ["ready"]);
        }

        using var host = builder.Build();
        var registrations = host.Services.GetRequiredService<IOptions<HealthCheckServiceOptions>>().Value.Registrations;
        Assert.That(registrations.Select(r => r.Name), Is.EqualTo(new[] { "recoverable-streams" }));
        Assert.That(registrations.Single().Tags, call == ExplicitCall.None ? Is.Empty : Is.EquivalentTo(new[] { "ready" }), "an explicit call's settings win over the default check");
        Assert.That(() => host.Services.GetRequiredService<HealthCheckService>(), Throws.Nothing, "no duplicate names");
    }

    [Test]
    public void An_explicit_check_under_another_name_replaces_the_default_one()
    {
        var builder = TestHosts.NewBuilder(TestOptions.NewServiceName());
        builder.Services.AddRecoverableRedisStreams().AddHandler<DiagnosticsTests.NoOpHandler>();
        builder.Services.AddHealthChecks().AddRecoverableStreamsHealthCheck("streams");
        using var host = builder.Build();
        Assert.That(host.Services.GetRequiredService<IOptions<HealthCheckServiceOptions>>().Value.Registrations.Select(r => r.Name), Is.EqualTo(new[] { "streams" }), "one check for one service");
    }

    [Test]
    public void DisableHealthChecks_in_the_section_leaves_the_default_check_out()
    {
        var builder = TestHosts.NewBuilder(TestOptions.NewServiceName(), settings: new Dictionary<string, string?> { ["DisableHealthChecks"] = "true" });
        builder.Services.AddRecoverableRedisStreams().AddHandler<DiagnosticsTests.NoOpHandler>();
        using var host = builder.Build();
        Assert.That(host.Services.GetRequiredService<IOptions<HealthCheckServiceOptions>>().Value.Registrations, Is.Empty);
    }

    [Test]
    public void A_keyed_service_gets_its_own_default_check_and_its_own_switch()
    {
        var builder = TestHosts.NewBuilder(TestOptions.NewServiceName());
        builder.Configuration["RecoverableStreams:orders:ServiceName"] = TestOptions.NewServiceName();
        builder.Configuration["RecoverableStreams:audit:ServiceName"] = TestOptions.NewServiceName();
        builder.Configuration["RecoverableStreams:audit:DisableHealthChecks"] = "true";
        builder.AddKeyedRecoverableRedisStreams("orders", "Redis").AddHandler<DiagnosticsTests.NoOpHandler>();
        builder.AddKeyedRecoverableRedisStreams("audit", "Redis").AddHandler<DiagnosticsTests.NoOpHandler>();
        using var host = builder.Build();
        Assert.That(host.Services.GetRequiredService<IOptions<HealthCheckServiceOptions>>().Value.Registrations.Select(r => r.Name), Is.EqualTo(new[] { "recoverable-streams-orders" }));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void The_sources_join_the_apps_OpenTelemetry_tracing_unless_DisableTracing(bool disable)
    {
        var spans = new List<Activity>();
        var builder = TestHosts.NewBuilder(TestOptions.NewServiceName(), settings: new Dictionary<string, string?> { ["DisableTracing"] = disable ? "true" : "false" });
        builder.Services.AddRecoverableRedisStreams().AddHandler<DiagnosticsTests.NoOpHandler>();
        builder.Services.AddOpenTelemetry().WithTracing(tracing => tracing.AddInMemoryExporter(spans));
        using var host = builder.Build();
        var provider = host.Services.GetRequiredService<TracerProvider>();

        // A span of each source's name, started here: exported only when the app's provider listens to that name.
        foreach (var name in new[] { CoreDiagnostics.ActivitySourceName, RecoverableStreamsDiagnostics.ActivitySourceName })
        {
            using var source = new ActivitySource(name);
            source.StartActivity("probe " + name)?.Dispose();
        }

        provider.ForceFlush();
        Assert.That(spans.Select(s => s.Source.Name), disable ? Is.Empty : Is.EquivalentTo(new[] { CoreDiagnostics.ActivitySourceName, RecoverableStreamsDiagnostics.ActivitySourceName }));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void The_meters_join_the_apps_OpenTelemetry_metrics_unless_DisableMetrics(bool disable)
    {
        var exported = new List<Metric>();
        var builder = TestHosts.NewBuilder(TestOptions.NewServiceName(), settings: new Dictionary<string, string?> { ["DisableMetrics"] = disable ? "true" : "false" });
        builder.Services.AddRecoverableRedisStreams().AddHandler<DiagnosticsTests.NoOpHandler>();
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddInMemoryExporter(exported));
        using var host = builder.Build();
        var provider = host.Services.GetRequiredService<MeterProvider>();

        var probe = "probe_" + Guid.NewGuid().ToString("N")[..8];
        foreach (var name in new[] { CoreDiagnostics.MeterName, RecoverableStreamsDiagnostics.MeterName })
        {
            using var meter = new Meter(name);
            meter.CreateCounter<long>(probe).Add(1);
            provider.ForceFlush();
        }

        Assert.That(exported.Where(m => m.Name == probe).Select(m => m.MeterName).Distinct(), disable ? Is.Empty : Is.EquivalentTo(new[] { CoreDiagnostics.MeterName, RecoverableStreamsDiagnostics.MeterName }));
    }
}
