using System.Net;
using System.Net.Sockets;

namespace RecoverableStreams.IntegrationTests.Infrastructure;

/// <summary>
/// Ports for test servers that are stopped and started again on the same port (a killed primary, a Redis restart):
/// a port "found free" once and reused later could meanwhile be taken by another test's server or by an outgoing
/// connection. These come from 12000-19999, below Linux' ephemeral range (32768-60999: bind(0) and client sockets
/// never get them), their cluster bus ports (+10000) too, and each is held for the life of the test process by an
/// exclusive lock file (flock, released when the process ends), so no other test, in this process or another one,
/// can be handed the same port.
/// </summary>
internal static class TestPorts
{
    private const int First = 12000;
    private const int Count = 8000;
    private static readonly string LockDirectory = Path.Combine(Path.GetTempPath(), "recoverablestreams-test-ports");

    /// <summary>The held lock files (never closed: the reservation lasts as long as the process).</summary>
    private static readonly List<FileStream> Held = [];
    private static readonly Lock Gate = new();

    /// <summary>A port no other test will be handed, free to bind now (and, with <paramref name="busPort"/>, port + 10000 too).</summary>
    public static int Reserve(bool busPort = false)
    {
        Directory.CreateDirectory(LockDirectory);
        var start = Random.Shared.Next(Count);
        for (var i = 0; i < Count; i++)
        {
            var port = First + ((start + i) % Count);
            FileStream lockFile;
            try
            {
                // FileShare.None is an exclusive flock on Linux: refused while any process (this one included) holds it.
                lockFile = new FileStream(Path.Combine(LockDirectory, port + ".lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException)
            {
                continue;
            }

            if (CanBind(port) && (!busPort || CanBind(port + 10000)))
            {
                lock (Gate)
                {
                    Held.Add(lockFile);
                }

                return port;
            }

            lockFile.Dispose();
        }

        throw new InvalidOperationException($"No free test port in {First}-{First + Count - 1}.");
    }

    private static bool CanBind(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
