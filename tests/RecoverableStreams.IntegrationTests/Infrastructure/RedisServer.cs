using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using DotNet.Testcontainers.Configurations;
using RecoverableStreams.LocalRedis;
using StackExchange.Redis;
using Testcontainers.Redis;

namespace RecoverableStreams.IntegrationTests.Infrastructure;

/// <summary>
/// A real Redis for tests, found in this order: <c>REDIS_TEST_CONNECTION</c> (an existing server), Testcontainers
/// when a Docker engine answers, else a <c>redis-server</c> process from PATH on a free loopback port (stopped by its
/// PID). No Redis at all is a failure that says what to install, never a skip.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly LocalRedisProcess? _process;
    private readonly RedisContainer? _container;
    private readonly string? _workDirectory;
    private readonly RedisTlsFiles? _tls;

    private RedisServer(string host, int port, LocalRedisProcess? process, RedisContainer? container, string? workDirectory, bool ownsServer, RedisTlsFiles? tls = null)
    {
        _tls = tls;
        Host = host;
        Port = port;
        _process = process;
        _container = container;
        _workDirectory = workDirectory;
        OwnsServer = ownsServer;
    }

    public string Host { get; }

    public int Port { get; }

    /// <summary>False for <c>REDIS_TEST_CONNECTION</c>: tests that stop or reconfigure the server need their own.</summary>
    public bool OwnsServer { get; }

    public string EndPoint => $"{Host}:{Port}";

    /// <summary>True for a server started with <see cref="StartTlsAsync"/>: it has no plain-text port.</summary>
    public bool UsesTls => _tls is not null;

    /// <summary>A configuration string with admin commands allowed (CONFIG is needed for keyspace flags).</summary>
    public string ConnectionString => $"{EndPoint},allowAdmin=true,abortConnect=false,connectRetry=5";

    public int? ProcessId => _process?.ProcessId;

    public Task<ConnectionMultiplexer> ConnectAsync(bool allowAdmin = true) =>
        ConnectionMultiplexer.ConnectAsync($"{EndPoint},allowAdmin={(allowAdmin ? "true" : "false")},abortConnect=false,connectRetry=5,syncTimeout=10000,asyncTimeout=10000");

    /// <summary>Starts (or finds) a server. <paramref name="extraArguments"/> are redis-server arguments, for a process server.</summary>
    public static Task<RedisServer> StartAsync(params string[] extraArguments) => StartAsync(mayShare: true, extraArguments);

    /// <summary>
    /// Starts a server of the test's own, never the shared <c>REDIS_TEST_CONNECTION</c> one: for tests that stop it,
    /// pause its clients (CLIENT PAUSE) or reset its statistics (CONFIG RESETSTAT).
    /// </summary>
    public static Task<RedisServer> StartOwnAsync(params string[] extraArguments) => StartAsync(mayShare: false, extraArguments);

    private static async Task<RedisServer> StartAsync(bool mayShare, string[] extraArguments)
    {
        var existing = Environment.GetEnvironmentVariable("REDIS_TEST_CONNECTION");
        if (mayShare && !string.IsNullOrWhiteSpace(existing) && extraArguments.Length == 0)
        {
            var parts = existing.Split(',')[0].Split(':');
            return new RedisServer(parts[0], parts.Length > 1 ? int.Parse(parts[1]) : 6379, null, null, null, ownsServer: false);
        }

        var serverPath = LocalRedisProcess.FindServer();
        if (serverPath is not null)
        {
            return await StartProcessAsync(serverPath, extraArguments);
        }

        if (TestcontainersSettings.OS.DockerEndpointAuthConfig is not null && extraArguments.Length == 0)
        {
            var container = new RedisBuilder("redis:7.2").Build();
            await container.StartAsync();
            var uri = new Uri("redis://" + container.GetConnectionString());
            return new RedisServer(uri.Host, uri.Port, null, container, null, ownsServer: true);
        }

        throw new InvalidOperationException(
            "No Redis for the integration tests: install redis-server (Debian/Ubuntu: 'sudo apt-get install -y redis-server', " +
            "or run ./eng/test.sh, which does it), start a Docker engine for Testcontainers, or set REDIS_TEST_CONNECTION=host:port.");
    }

    /// <summary>
    /// Starts a redis-server process that speaks TLS only (<c>--port 0 --tls-port</c>); <see cref="Port"/> is the TLS
    /// port. Readiness is checked over TLS; the probe trusts any certificate (the tests check trust themselves).
    /// </summary>
    public static async Task<RedisServer> StartTlsAsync(RedisTlsFiles tls, params string[] extraArguments)
    {
        ArgumentNullException.ThrowIfNull(tls);
        var serverPath = LocalRedisProcess.FindServer() ?? throw new InvalidOperationException(
            "TLS tests need a redis-server process built with TLS (Debian/Ubuntu: 'sudo apt-get install -y redis-server').");
        return await StartProcessAsync(serverPath, extraArguments, tls: tls);
    }

    /// <summary>Starts a redis-server process with the same arguments on the same port (after <see cref="StopProcessAsync"/>).</summary>
    public async Task<RedisServer> RestartAsync(params string[] extraArguments)
    {
        var serverPath = LocalRedisProcess.FindServer() ?? throw new InvalidOperationException("redis-server is not on PATH.");
        return await StartProcessAsync(serverPath, extraArguments, Port, _workDirectory, _tls);
    }

    /// <summary>Kills the server process (SIGKILL) and waits until it is gone.</summary>
    public async Task StopProcessAsync()
    {
        if (_process is null)
        {
            throw new InvalidOperationException("Only a redis-server process started by the tests can be stopped.");
        }

        await _process.StopAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }

        if (_container is not null)
        {
            await _container.DisposeAsync();
        }

        if (_workDirectory is not null && Directory.Exists(_workDirectory))
        {
            try
            {
                Directory.Delete(_workDirectory, recursive: true);
            }
            catch (IOException)
            {
                // A restarted server may still hold a file for a moment; the temp folder is cleaned by the OS.
            }
        }
    }

    private static async Task<RedisServer> StartProcessAsync(string serverPath, string[] extraArguments, int? port = null, string? workDirectory = null, RedisTlsFiles? tls = null)
    {
        workDirectory ??= Directory.CreateTempSubdirectory("redis-test-").FullName;
        // A server may be killed and started again on its port (RestartAsync): the port is held for the test
        // process' life rather than found free once (see TestPorts).
        port ??= TestPorts.Reserve();
        var process = await LocalRedisProcess.StartAsync(
            serverPath,
            workDirectory,
            chosenPort => TlsArguments(tls, chosenPort).Concat(extraArguments),
            port,
            (chosenPort, started) => tls is null
                ? LocalRedisProcess.AnswersPingAsync(chosenPort, started, TimeSpan.FromSeconds(10))
                : AnswersOverTlsAsync(chosenPort, started, tls, TimeSpan.FromSeconds(10)));
        return new RedisServer("127.0.0.1", process.Port, process, null, workDirectory, ownsServer: true, tls);
    }

    /// <summary>A TLS-only server listens on the chosen port with TLS and has no plain-text port.</summary>
    private static string[] TlsArguments(RedisTlsFiles? tls, int port) => tls is null
        ? []
        : ["--port", "0", "--tls-port", port.ToString(), "--tls-cert-file", tls.CertificateFile, "--tls-key-file", tls.KeyFile,
           "--tls-ca-cert-file", tls.CaCertificateFile, "--tls-auth-clients", tls.ClientCertificateFile is null ? "no" : "yes"];

    private static async Task<bool> AnswersOverTlsAsync(int port, Process process, RedisTlsFiles tls, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout && !process.HasExited)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                await using var stream = await AuthenticateAsync(client.GetStream(), tls);
                await stream.WriteAsync("PING\r\n"u8.ToArray());
                var buffer = new byte[64];
                var read = await stream.ReadAsync(buffer);
                // PONG, or NOAUTH from a server started with a password: either way it answers commands.
                if (read > 0 && (buffer[0] == (byte)'+' || buffer.AsSpan(0, read).StartsWith("-NOAUTH"u8)))
                {
                    return true;
                }
            }
            catch (SocketException)
            {
            }
            catch (IOException)
            {
            }
            catch (System.Security.Authentication.AuthenticationException)
            {
                // A server that is still starting can drop the handshake: try again.
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50));
        }

        return false;
    }

    private static async Task<Stream> AuthenticateAsync(NetworkStream network, RedisTlsFiles tls)
    {
        var ssl = new SslStream(network, leaveInnerStreamOpen: false);
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, certificate, _, _) => IsIssuedBy(certificate, tls.CaCertificateFile),
        };
        if (tls.ClientCertificateFile is not null)
        {
            options.ClientCertificates = [X509Certificate2.CreateFromPemFile(tls.ClientCertificateFile, tls.ClientKeyFile)];
        }

        await ssl.AuthenticateAsClientAsync(options);
        return ssl;
    }

    /// <summary>The probe trusts exactly the server's own CA file, like a client configured with <c>TrustIssuer</c>.</summary>
    private static bool IsIssuedBy(X509Certificate? certificate, string caFile)
    {
        if (certificate is null)
        {
            return false;
        }

        using var ca = X509CertificateLoader.LoadCertificateFromFile(caFile);
        using var leaf = new X509Certificate2(certificate);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(leaf);
    }
}

/// <summary>
/// The PEM files of a TLS-only test server. With <see cref="ClientCertificateFile"/> set, the server requires client
/// certificates (<c>--tls-auth-clients yes</c>) and the readiness probe presents that one.
/// </summary>
public sealed record RedisTlsFiles(string CertificateFile, string KeyFile, string CaCertificateFile, string? ClientCertificateFile = null, string? ClientKeyFile = null);
