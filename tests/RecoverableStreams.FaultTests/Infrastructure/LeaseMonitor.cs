using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace RecoverableStreams.FaultTests.Infrastructure;

/// <summary>
/// Records every grant Redis makes, with its fencing token, by reading <c>MONITOR</c> (which shows the commands run
/// inside Lua scripts as <c>[0 lua] "HSET" "{L}:owners" "&lt;lbsId&gt;" "&lt;consumer&gt;|&lt;session&gt;|&lt;token&gt;"</c>,
/// docs/ARCHITECTURE.md). Tokens only increase (never below the Redis clock in microseconds), so when the monitor was
/// disconnected (a Redis restart) the tokens granted meanwhile are exactly those between the last one seen before and
/// the first one seen after: <see cref="Gaps"/>.
/// </summary>
internal sealed partial class LeaseMonitor : IAsyncDisposable
{
    private readonly string _host;
    private readonly int _port;
    private readonly string _ownersKey;
    private readonly ConcurrentDictionary<string, ConcurrentQueue<Grant>> _grants = new(StringComparer.Ordinal);
    private readonly List<(long After, long Before)> _gaps = [];
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly TaskCompletionSource _firstConnect = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _lastToken;
    private bool _gapOpen;
    private long _gapAfter;

    /// <param name="ownersKey">The ownership records hash of the service, <c>{L}:owners</c>.</param>
    public LeaseMonitor(string host, int port, string ownersKey)
    {
        _host = host;
        _port = port;
        _ownersKey = ownersKey;
        _loop = Task.Run(RunAsync);
    }

    public int Reconnects { get; private set; }

    public long GrantsSeen { get; private set; }

    /// <summary>Token ranges (exclusive bounds) granted while the monitor was not connected.</summary>
    public IReadOnlyList<(long After, long Before)> Gaps
    {
        get
        {
            lock (_gate)
            {
                var gaps = _gaps.ToList();
                if (_gapOpen)
                {
                    gaps.Add((_gapAfter, long.MaxValue));
                }

                return gaps;
            }
        }
    }

    public Task Connected => _firstConnect.Task;

    public IReadOnlyList<Grant> GrantsOf(string lbsId) => _grants.TryGetValue(lbsId, out var q) ? q.ToArray() : [];

    /// <summary>True when <paramref name="token"/> may have been granted while the monitor was away.</summary>
    public bool InGap(long token) => Gaps.Any(g => token > g.After && token < g.Before);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        var connectedBefore = false;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                using var client = new TcpClient { NoDelay = true };
                await client.ConnectAsync(_host, _port, _stop.Token);
                await using var stream = client.GetStream();
                await stream.WriteAsync("MONITOR\r\n"u8.ToArray(), _stop.Token);
                using var reader = new StreamReader(stream, Encoding.UTF8);
                var ok = await reader.ReadLineAsync(_stop.Token);
                if (ok != "+OK")
                {
                    throw new IOException("MONITOR answered " + ok);
                }

                if (connectedBefore)
                {
                    Reconnects++;
                }

                connectedBefore = true;
                _firstConnect.TrySetResult();
                while (await reader.ReadLineAsync(_stop.Token) is { } line)
                {
                    OnLine(line);
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is IOException or SocketException)
            {
                // Redis went away (a restart): reconnect; what was granted meanwhile becomes a gap.
            }

            lock (_gate)
            {
                if (connectedBefore && !_gapOpen)
                {
                    _gapOpen = true;
                    _gapAfter = _lastToken;
                }
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20), _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void OnLine(string line)
    {
        var match = LeaseSet().Match(line);
        if (!match.Success || !string.Equals(match.Groups["key"].Value, _ownersKey, StringComparison.Ordinal))
        {
            return;
        }

        var id = match.Groups["id"].Value;
        var value = match.Groups["value"].Value;
        var parts = value.Split('|');
        if (parts.Length < 3 || !long.TryParse(parts[^1], NumberStyles.None, CultureInfo.InvariantCulture, out var token))
        {
            return;
        }

        lock (_gate)
        {
            if (_gapOpen)
            {
                // Tokens never go backwards (issue 8): the lower bound guards against a fence that did.
                _gaps.Add((token > _gapAfter ? _gapAfter : 0, token));
                _gapOpen = false;
            }

            _lastToken = token;
            GrantsSeen++;
        }

        _grants.GetOrAdd(id, _ => new ConcurrentQueue<Grant>()).Enqueue(new Grant(token, parts[0], parts[1]));
    }

    [GeneratedRegex("\"HSET\" \"(?<key>[^\"]+)\" \"(?<id>[^\"]+)\" \"(?<value>[^\"]+)\"$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex LeaseSet();

    public sealed record Grant(long Token, string ConsumerId, string Instance);
}
