using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RecoverableStreams.Hosting;
using RecoverableStreams.IntegrationTests.Infrastructure;

namespace RecoverableStreams.IntegrationTests.Hosting;

public sealed class OptionsBindingTests
{
    private string _directory = null!;

    [SetUp]
    public void CreateDirectory() => _directory = Directory.CreateTempSubdirectory("hosting-options-").FullName;

    [TearDown]
    public void DeleteDirectory() => Directory.Delete(_directory, recursive: true);

    [Test]
    public async Task Options_are_bound_from_appsettings_json_then_code_and_the_host_runs()
    {
        var service = TestOptions.NewServiceName();
        using var host = BuildFromJson($$"""
            {
              "ConnectionStrings": { "Redis": "{{SharedRedis.Server.ConnectionString}}" },
              "RecoverableStreams": {
                "ServiceName": "{{service}}",
                "ConsumerId": "json-consumer",
                "LeaseDuration": "00:00:03",
                "MaxDeliveryAttempts": 7,
                "MaxConcurrentStreams": 4,
                "HandlerStallTimeout": "00:00:20",
                "KeyspaceNotifications": "VerifyOnly"
              }
            }
            """, o => o.MaxConcurrentStreams = 5);
        var options = host.Services.GetRequiredService<IOptions<RecoverableStreamOptions>>().Value;
        Assert.Multiple(() =>
        {
            Assert.That(options.ServiceName, Is.EqualTo(service));
            Assert.That(options.ConsumerId, Is.EqualTo("json-consumer"));
            Assert.That(options.LeaseDuration, Is.EqualTo(TimeSpan.FromSeconds(3)));
            Assert.That(host.Services.GetRequiredService<IOptions<RecoverableStreamsHostingOptions>>().Value.MaxDeliveryAttempts, Is.EqualTo(7), "a hosting setting, same section");
            Assert.That(options.MaxConcurrentStreams, Is.EqualTo(5), "the code delegate runs after the file");
            Assert.That(options.HandlerStallTimeout, Is.EqualTo(TimeSpan.FromSeconds(20)));
            Assert.That(options.KeyspaceNotifications, Is.EqualTo(KeyspaceNotificationsMode.VerifyOnly));
            Assert.That(options.AutoClaim, Is.True, "the hosting layer always claims automatically");
        });

        await host.StartAsync();
        await host.StopAsync();
    }

    [Test]
    public async Task The_hosting_settings_bind_from_the_same_section_and_are_no_unknown_keys()
    {
        // UnknownConfigurationKeys = Error: a key that matched no option would stop the host.
        using var host = BuildFromJson($$"""
            {
              "RecoverableStreams": {
                "ServiceName": "{{TestOptions.NewServiceName()}}",
                "Configuration": "{{SharedRedis.Server.ConnectionString}}",
                "MaxDeliveryAttempts": 3,
                "MaxOutageRetryDuration": "00:00:42",
                "MaxConfigurationOutageRetryDuration": "00:07:00",
                "DisableHealthChecks": true,
                "DisableTracing": true,
                "DisableMetrics": true,
                "UnknownConfigurationKeys": "Error"
              }
            }
            """);
        var hosting = host.Services.GetRequiredService<IOptions<RecoverableStreamsHostingOptions>>().Value;
        Assert.Multiple(() =>
        {
            Assert.That(hosting.Configuration, Is.EqualTo(SharedRedis.Server.ConnectionString));
            Assert.That(hosting.MaxDeliveryAttempts, Is.EqualTo(3));
            Assert.That(hosting.MaxOutageRetryDuration, Is.EqualTo(TimeSpan.FromSeconds(42)));
            Assert.That(hosting.MaxConfigurationOutageRetryDuration, Is.EqualTo(TimeSpan.FromMinutes(7)));
            Assert.That((hosting.DisableHealthChecks, hosting.DisableTracing, hosting.DisableMetrics), Is.EqualTo((true, true, true)));
        });

        // Started: no unknown key, and the connection came from Configuration (there is no connection string).
        await host.StartAsync();
        await host.StopAsync();
    }

    [Test]
    public void A_bad_hosting_value_fails_start_with_the_option_name()
    {
        using var host = BuildFromJson($$"""
            {
              "ConnectionStrings": { "Redis": "{{SharedRedis.Server.ConnectionString}}" },
              "RecoverableStreams": { "ServiceName": "{{TestOptions.NewServiceName()}}", "MaxDeliveryAttempts": 0, "MaxOutageRetryDuration": "00:00:00" }
            }
            """);
        var error = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.That(error!.Message, Does.Contain("MaxDeliveryAttempts must be at least 1").And.Contain("MaxOutageRetryDuration must be positive"));
    }

    [Test]
    public void A_bad_value_fails_start_with_the_option_name()
    {
        using var host = BuildFromJson($$"""
            {
              "ConnectionStrings": { "Redis": "{{SharedRedis.Server.ConnectionString}}" },
              "RecoverableStreams": { "ServiceName": "{{TestOptions.NewServiceName()}}", "LeaseDuration": "00:00:00.010" }
            }
            """);
        var error = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.That(error!.Message, Does.Contain("LeaseDuration"));
    }

    [Test]
    public void An_unknown_key_fails_start_when_UnknownConfigurationKeys_is_Error()
    {
        using var host = BuildFromJson($$"""
            {
              "ConnectionStrings": { "Redis": "{{SharedRedis.Server.ConnectionString}}" },
              "RecoverableStreams": { "ServiceName": "{{TestOptions.NewServiceName()}}", "LeaseDurationn": "00:00:05", "UnknownConfigurationKeys": "Error" }
            }
            """);
        var error = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.That(error!.Message, Does.Contain("RecoverableStreams:LeaseDurationn"));
    }

    [Test]
    public async Task An_unknown_key_is_logged_and_the_host_runs_by_default()
    {
        using var logs = new LogCapture();
        using var host = BuildFromJson($$"""
            {
              "ConnectionStrings": { "Redis": "{{SharedRedis.Server.ConnectionString}}" },
              "RecoverableStreams": { "ServiceName": "{{TestOptions.NewServiceName()}}", "SettingOfANewerVersion": "on", "HandlerRetry": { "Shape": "x" } }
            }
            """, logs: logs);
        await host.StartAsync();
        try
        {
            var warning = logs.WithEventId(157).Single();
            Assert.That(warning.Level, Is.EqualTo(LogLevel.Warning));
            Assert.That(warning.Message, Does.Contain("RecoverableStreams:SettingOfANewerVersion").And.Contain("RecoverableStreams:HandlerRetry:Shape"));
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Test]
    public void The_handler_retry_back_off_is_bound_and_validated()
    {
        using var host = BuildFromJson($$"""
            {
              "ConnectionStrings": { "Redis": "{{SharedRedis.Server.ConnectionString}}" },
              "RecoverableStreams": {
                "ServiceName": "{{TestOptions.NewServiceName()}}",
                "HandlerRetry": { "InitialDelay": "00:00:02", "MaxDelay": "00:00:01", "Jitter": 0.5 }
              }
            }
            """);
        var retry = host.Services.GetRequiredService<IOptionsMonitor<RecoverableStreamsHostingOptions>>().Get(Options.DefaultName).HandlerRetry;
        Assert.That((retry.InitialDelay, retry.MaxDelay, retry.Jitter), Is.EqualTo((TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1), 0.5)));
        var error = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.That(error!.Message, Does.Contain("HandlerRetry:MaxDelay"));
    }

    [Test]
    public void A_missing_connection_fails_start()
    {
        using var host = BuildFromJson($$"""
            { "RecoverableStreams": { "ServiceName": "{{TestOptions.NewServiceName()}}" } }
            """);
        var error = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.That(error!.Message, Does.Contain("ConnectionStrings:Redis"));
    }

    private IHost BuildFromJson(string json, Action<RecoverableStreamOptions>? configure = null, LogCapture? logs = null)
    {
        var path = Path.Combine(_directory, "appsettings.json");
        File.WriteAllText(path, json);
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddJsonFile(path, optional: false);
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }

        builder.Services.AddRecoverableRedisStreams(configure).AddHandler<NoOpHandler>();
        return builder.Build();
    }

    internal sealed class NoOpHandler : IStreamWorkHandler
    {
        public Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
