using System.Net;
using System.Net.Sockets;

namespace RecoverableStreams.IntegrationTests.Infrastructure;

/// <summary>
/// A loopback TCP forwarder between one worker and Redis, so a test can partition that worker alone, two ways:
/// <see cref="Cut"/> resets every connection and refuses new ones (nothing listens on the port), as a peer that is
/// gone; <see cref="Blackhole"/> silently stops moving bytes and accepting connections, as a link that drops packets
/// (what was sent is delivered late, after <see cref="Heal"/>, as TCP retransmission would). <see cref="Heal"/> ends
/// either. <see cref="ReplyDelay"/> holds every reply from Redis for a while (a slow link back), so a test can see
/// what Redis did before the client hears of it. Plain async socket copying; no external tool.
/// </summary>
internal sealed class TcpProxy : IAsyncDisposable
{
    private readonly IPEndPoint _target;
    private readonly Lock _gate = new();
    private readonly List<(Socket Client, Socket Server)> _pairs = [];
    private readonly CancellationTokenSource _disposed = new();
    private Socket? _listener;
    private int _generation;
    private TaskCompletionSource _flowing = Open();

    private TcpProxy(IPEndPoint target, int port)
    {
        _target = target;
        Port = port;
    }

    /// <summary>The loopback port clients connect to.</summary>
    public int Port { get; }

    public bool IsCut { get; private set; }

    public int ConnectionsAccepted { get; private set; }

    public int ConnectionsCut { get; private set; }

    public int Cuts { get; private set; }

    public bool IsBlackholed => !_flowing.Task.IsCompleted;

    public string EndPoint => $"127.0.0.1:{Port}";

    /// <summary>How long each chunk from Redis to the client is held before it is passed on; zero by default.</summary>
    public TimeSpan ReplyDelay { get; set; }

    public static TcpProxy Start(int targetPort)
    {
        var listener = NewListener(0);
        var proxy = new TcpProxy(new IPEndPoint(IPAddress.Loopback, targetPort), ((IPEndPoint)listener.LocalEndPoint!).Port);
        proxy.Listen(listener);
        return proxy;
    }

    /// <summary>Partition: close every forwarded connection and stop listening (new connections are refused).</summary>
    public void Cut()
    {
        List<(Socket, Socket)> pairs;
        lock (_gate)
        {
            if (IsCut)
            {
                return;
            }

            IsCut = true;
            Cuts++;
            _generation++;
            _listener?.Dispose();
            _listener = null;
            pairs = [.. _pairs];
            _pairs.Clear();
            ConnectionsCut += pairs.Count;
        }

        foreach (var (client, server) in pairs)
        {
            Close(client);
            Close(server);
        }
    }

    /// <summary>Partition by silence: no byte moves and no connection is accepted until <see cref="Heal"/>.</summary>
    public void Blackhole()
    {
        lock (_gate)
        {
            if (IsBlackholed)
            {
                return;
            }

            Cuts++;
            _flowing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>The partition ends: bytes flow again (blackhole), or the port listens again (cut).</summary>
    public void Heal()
    {
        lock (_gate)
        {
            _flowing.TrySetResult();
            if (!IsCut)
            {
                return;
            }

            IsCut = false;
            Listen(NewListener(Port));
        }
    }

    public ValueTask DisposeAsync()
    {
        _disposed.Cancel();
        _flowing.TrySetResult();
        Cut();
        _disposed.Dispose();
        return ValueTask.CompletedTask;
    }

    private static TaskCompletionSource Open()
    {
        var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        open.SetResult();
        return open;
    }

    private static Socket NewListener(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        // The port is reused after a cut while closed connections still sit in TIME_WAIT.
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
        socket.Listen(128);
        return socket;
    }

    private void Listen(Socket listener)
    {
        _listener = listener;
        var generation = _generation;
        _ = Task.Run(() => AcceptLoopAsync(listener, generation));
    }

    private async Task AcceptLoopAsync(Socket listener, int generation)
    {
        while (!_disposed.IsCancellationRequested)
        {
            Socket client;
            try
            {
                await _flowing.Task.WaitAsync(_disposed.Token);
                client = await listener.AcceptAsync();
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return; // Cut or disposed.
            }

            _ = Task.Run(() => ConnectAsync(client, generation));
        }
    }

    private async Task ConnectAsync(Socket client, int generation)
    {
        var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await server.ConnectAsync(_target);
        }
        catch (SocketException)
        {
            // Redis is down: the client sees its connection close, as it would without the proxy.
            Close(client);
            Close(server);
            return;
        }

        client.NoDelay = true;
        server.NoDelay = true;
        lock (_gate)
        {
            if (IsCut || generation != _generation)
            {
                Close(client);
                Close(server);
                return;
            }

            ConnectionsAccepted++;
            _pairs.Add((client, server));
        }

        _ = Task.Run(() => PumpAsync(client, server, towardClient: false));
        _ = Task.Run(() => PumpAsync(server, client, towardClient: true));
    }

    private async Task PumpAsync(Socket from, Socket to, bool towardClient)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                await _flowing.Task.WaitAsync(_disposed.Token);
                var read = await from.ReceiveAsync(buffer, SocketFlags.None);
                if (read == 0)
                {
                    break;
                }

                if (towardClient && ReplyDelay > TimeSpan.Zero)
                {
                    await Task.Delay(ReplyDelay, _disposed.Token);
                }

                // A read that completed as the blackhole began is held until it ends, not delivered through it.
                await _flowing.Task.WaitAsync(_disposed.Token);
                var sent = 0;
                while (sent < read)
                {
                    sent += await to.SendAsync(buffer.AsMemory(sent, read - sent), SocketFlags.None);
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // One side closed or was cut, or the proxy was disposed.
        }

        lock (_gate)
        {
            _pairs.RemoveAll(p => (p.Client == from && p.Server == to) || (p.Client == to && p.Server == from));
        }

        Close(from);
        Close(to);
    }

    private static void Close(Socket socket)
    {
        try
        {
            // RST rather than FIN: the peer learns at once, as after a broken link it would at its next write.
            socket.LingerState = new LingerOption(true, 0);
            socket.Dispose();
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }
}
