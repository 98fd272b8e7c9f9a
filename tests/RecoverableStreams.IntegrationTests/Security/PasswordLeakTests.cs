using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Security;

/// <summary>
/// A password in the connection string never shows up in exception messages or logs: not when the connection is
/// refused, not when the client cannot start on it, not in the options' validation messages.
/// </summary>
public sealed class PasswordLeakTests
{
    private const string Password = "Sup3r-Secret-Pa55word";
    private const string ServerPassword = "the-real-server-pw";

    [Test]
    public async Task A_refused_connection_and_a_failing_client_start_never_reveal_the_password()
    {
        await using var server = await RedisServer.StartAsync("--requirepass", ServerPassword);
        using var logs = new LogCapture();
        using var loggerFactory = logs.Factory;
        var texts = new List<string>();

        // 1. A connection that fails fast: the wrong password.
        var failing = ConfigurationOptions.Parse($"{server.EndPoint},password={Password},abortConnect=true,connectRetry=1,connectTimeout=1500");
        failing.LoggerFactory = loggerFactory;
        var refused = Assert.ThrowsAsync<RedisConnectionException>(async () => await ConnectionMultiplexer.ConnectAsync(failing));
        texts.Add(refused!.ToString());

        // 2. A client started on a connection that never authenticates (abortConnect=false): InitAsync fails.
        var lazy = ConfigurationOptions.Parse($"{server.EndPoint},user=worker,password={Password},abortConnect=false,connectRetry=1,connectTimeout=1000,syncTimeout=1000,asyncTimeout=1000,allowAdmin=true");
        lazy.LoggerFactory = loggerFactory;
        await using var redis = await ConnectionMultiplexer.ConnectAsync(lazy);
        // Not redis.Configuration: StackExchange.Redis returns the password there by design (docs/SECURITY.md warns).
        texts.Add(redis.GetStatus());
        var options = TestOptions.For();
        await using var client = new RecoverableStreamClient(redis, options, loggerFactory);
        var startFailure = Assert.ThrowsAsync<RecoverableStreamsException>(async () => await client.InitAsync());
        texts.Add(startFailure!.ToString());

        var publishFailure = Assert.ThrowsAsync<RecoverableStreamsException>(async () => await new StreamPublisher(redis, options).AddStreamAsync("s"));
        texts.Add(publishFailure!.ToString());

        // 3. Invalid options; the connection string is a hosting setting now, so invalid hosting options carry it.
        options.MaxConcurrentStreams = 0;
        var invalid = Assert.Throws<ArgumentException>(() => _ = new RecoverableStreamClient(redis, options));
        texts.Add(invalid!.ToString());
        var hosting = new RecoverableStreams.Hosting.RecoverableStreamsHostingOptions { Configuration = lazy.ToString(includePassword: true), MaxDeliveryAttempts = 0 };
        var hostingErrors = RecoverableStreams.Hosting.Configuration.ValidateRecoverableStreamOptions.ValidateHosting(hosting).ToList();
        Assert.That(hostingErrors, Is.Not.Empty, "the invalid hosting options were refused");
        texts.AddRange(hostingErrors);

        texts.AddRange(logs.Records.Select(r => r.Text));
        Assert.That(logs.Records, Is.Not.Empty, "the failures were logged");
        Assert.That(texts.Where(t => t.Contains(Password, StringComparison.Ordinal) || t.Contains(ServerPassword, StringComparison.Ordinal)), Is.Empty,
            "no exception or log record contains a password");
    }
}
