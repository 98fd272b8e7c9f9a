using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Infrastructure;

/// <summary>A test fixture with its own connection to the shared server, opened before each test and closed after it.</summary>
public abstract class SharedRedisTest
{
    private ConnectionMultiplexer? _redis;

    protected ConnectionMultiplexer Redis => _redis ?? throw new InvalidOperationException("Not connected: SetUp has not run.");

    [SetUp]
    public async Task ConnectAsync() => _redis = await SharedRedis.Server.ConnectAsync();

    [TearDown]
    public async Task DisconnectAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }
}
