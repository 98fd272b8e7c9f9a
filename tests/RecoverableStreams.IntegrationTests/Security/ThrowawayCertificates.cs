using System.Diagnostics;

namespace RecoverableStreams.IntegrationTests.Security;

/// <summary>
/// A throwaway certificate authority with a server certificate (localhost, 127.0.0.1) and a client certificate, made
/// with the openssl command line in a temporary folder that is deleted on dispose. Keys are P-256: fast to make.
/// </summary>
internal sealed class ThrowawayCertificates : IDisposable
{
    private ThrowawayCertificates(string directory) => Directory = directory;

    public string Directory { get; }

    public string CaCertificate => Path.Combine(Directory, "ca.crt");

    public string ServerCertificate => Path.Combine(Directory, "server.crt");

    public string ServerKey => Path.Combine(Directory, "server.key");

    public string ClientCertificate => Path.Combine(Directory, "client.crt");

    public string ClientKey => Path.Combine(Directory, "client.key");

    public static async Task<ThrowawayCertificates> CreateAsync()
    {
        var certificates = new ThrowawayCertificates(System.IO.Directory.CreateTempSubdirectory("redis-tls-").FullName);
        await certificates.OpenSslAsync("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-subj", "/CN=RecoverableStreams throwaway test CA", "-keyout", "ca.key", "-out", "ca.crt",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        await certificates.IssueAsync("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
        await certificates.IssueAsync("client", "recoverable-streams-test-client", "extendedKeyUsage=clientAuth\n");
        return certificates;
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // The temp folder is cleaned by the OS otherwise.
        }
    }

    private async Task IssueAsync(string name, string commonName, string extensions)
    {
        await File.WriteAllTextAsync(Path.Combine(Directory, name + ".ext"), extensions);
        await OpenSslAsync("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=" + commonName,
            "-keyout", name + ".key", "-out", name + ".csr");
        await OpenSslAsync("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
            "-extfile", name + ".ext", "-out", name + ".crt");
    }

    private async Task OpenSslAsync(params string[] arguments)
    {
        var info = new ProcessStartInfo("openssl")
        {
            WorkingDirectory = Directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("openssl did not start (Debian/Ubuntu: 'sudo apt-get install -y openssl').");
        var error = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.That(process.ExitCode, Is.Zero, $"openssl {string.Join(' ', arguments)} failed: {await error}");
    }
}
