using RecoverableStreams.IntegrationTests.Infrastructure;

// In the assembly's root namespace, so this set-up runs before every test of the assembly.
namespace RecoverableStreams.IntegrationTests;

/// <summary>
/// One Redis server for the whole test assembly (tests isolate themselves by service name). Tests that stop, restart
/// or reconfigure a server start their own with <see cref="RedisServer.StartAsync"/>.
/// </summary>
[SetUpFixture]
public sealed class SharedRedis
{
    private static RedisServer? _server;

    public static RedisServer Server => _server ?? throw new InvalidOperationException("The shared Redis server has not started.");

    [OneTimeSetUp]
    public async Task StartAsync() => _server = await RedisServer.StartAsync();

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
