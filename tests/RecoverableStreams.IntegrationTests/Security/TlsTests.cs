using System.Security.Cryptography.X509Certificates;
using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.Security;

/// <summary>
/// The client over TLS, as docs/SECURITY.md describes it: a redis-server with no plain-text port, a throwaway CA made
/// with openssl, and an ordinary StackExchange.Redis connection string (<c>ssl=true,sslHost=...</c>) that trusts the CA.
/// </summary>
public sealed class TlsTests
{
    [Test]
    public async Task Consumer_and_publisher_work_against_a_tls_only_server_whose_ca_the_client_trusts()
    {
        using var certificates = await ThrowawayCertificates.CreateAsync();
        await using var server = await RedisServer.StartTlsAsync(new RedisTlsFiles(certificates.ServerCertificate, certificates.ServerKey, certificates.CaCertificate));

        var trusting = TlsOptions(server);
        trusting.TrustIssuer(certificates.CaCertificate);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(trusting);
        await RunStreamsAsync(redis);

        Assert.That(async () => await ConnectionMultiplexer.ConnectAsync(FailFast($"{server.EndPoint}")), Throws.InstanceOf<RedisConnectionException>(),
            "the server has no plain-text port");
        Assert.That(async () => await ConnectionMultiplexer.ConnectAsync(FailFast(TlsOptions(server))), Throws.InstanceOf<RedisConnectionException>(),
            "a client that does not trust the throwaway CA refuses the server");
    }

    [Test]
    public async Task Consumer_presents_a_client_certificate_when_the_server_requires_one()
    {
        using var certificates = await ThrowawayCertificates.CreateAsync();
        await using var server = await RedisServer.StartTlsAsync(new RedisTlsFiles(
            certificates.ServerCertificate, certificates.ServerKey, certificates.CaCertificate, certificates.ClientCertificate, certificates.ClientKey));

        var withCertificate = TlsOptions(server);
        withCertificate.TrustIssuer(certificates.CaCertificate);
        withCertificate.CertificateSelection += (_, _, _, _, _) => X509Certificate2.CreateFromPemFile(certificates.ClientCertificate, certificates.ClientKey);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(withCertificate);
        await RunStreamsAsync(redis);

        var withoutCertificate = TlsOptions(server);
        withoutCertificate.TrustIssuer(certificates.CaCertificate);
        Assert.That(async () => await ConnectionMultiplexer.ConnectAsync(FailFast(withoutCertificate)), Throws.InstanceOf<RedisConnectionException>(),
            "the server refuses a client without a certificate");
    }

    private static ConfigurationOptions TlsOptions(RedisServer server) =>
        ConfigurationOptions.Parse($"{server.EndPoint},ssl=true,sslHost=localhost,allowAdmin=true,abortConnect=true,connectTimeout=10000,syncTimeout=10000,asyncTimeout=10000");

    private static ConfigurationOptions FailFast(string configuration) => FailFast(ConfigurationOptions.Parse(configuration));

    private static ConfigurationOptions FailFast(ConfigurationOptions options)
    {
        options.AbortOnConnectFail = true;
        options.ConnectRetry = 1;
        options.ConnectTimeout = 2000;
        return options;
    }

    private static async Task RunStreamsAsync(ConnectionMultiplexer redis)
    {
        var options = TestOptions.For();
        await using var consumer = await TestConsumer.StartAsync(redis, options);
        var publisher = new StreamPublisher(redis, options);
        await publisher.AddStreamAsync("tls-a");
        await publisher.AddStreamAsync("tls-b");

        await Eventually.AssertAsync(() => consumer.Owned.Count == 2, TimeSpan.FromSeconds(15), "the consumer is assigned both streams over TLS");
        await consumer.Client.CompleteStreamAsync("tls-a");
        await consumer.Client.CompleteStreamAsync("tls-b");
        Assert.That(await redis.GetDatabase().StreamLengthAsync(options.ServiceName + "-input"), Is.Zero, "both streams were completed over TLS");
    }
}
