using System.Diagnostics;
using System.Globalization;
using RecoverableStreams.Benchmarks.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.Benchmarks.Suite;

/// <summary>
/// A consumer of this library in a process of its own, so a crash is a real one (the process is killed: no release,
/// no goodbye, its connections drop) and the benchmark needs no internal API. Protocol on stdin/stdout: the child
/// prints <c>READY</c> once started, <c>OWNED n</c> once it owns its streams (or the wait ran out); on the line
/// <c>crash</c> it waits for its next renewal to complete (so no renewal is in flight), writes each lease's
/// <see cref="StreamLease.ExpiresAt"/> (Redis clock) to a file, prints <c>CRASHING</c> and kills itself.
/// </summary>
internal sealed class CrashPeer : IDisposable
{
    private const string Ready = "READY";
    private const string Owned = "OWNED ";
    private const string Crashing = "CRASHING";
    private readonly Process _process;
    private readonly string _deadlinesFile;

    private CrashPeer(Process process, string deadlinesFile)
    {
        _process = process;
        _deadlinesFile = deadlinesFile;
    }

    /// <summary>Starts the child and waits for <c>READY</c>.</summary>
    public static async Task<CrashPeer> StartAsync(string endPoint, string service, int streams, TimeSpan lease)
    {
        var deadlinesFile = Path.Combine(Path.GetTempPath(), $"crash-peer-{Guid.NewGuid():N}.tsv");
        var info = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
        {
            info.ArgumentList.Add(System.Reflection.Assembly.GetEntryAssembly()!.Location);
        }

        foreach (var argument in new[] { "crash-peer", "--redis", endPoint, "--service", service, "--streams", streams.ToString(CultureInfo.InvariantCulture), "--lease-seconds", lease.TotalSeconds.ToString(CultureInfo.InvariantCulture), "--deadlines", deadlinesFile })
        {
            info.ArgumentList.Add(argument);
        }

        var peer = new CrashPeer(Process.Start(info) ?? throw new InvalidOperationException("The crash-peer process did not start."), deadlinesFile);
        await peer.ReadUntilAsync(Ready, TimeSpan.FromSeconds(60));
        return peer;
    }

    public int ProcessId => _process.Id;

    /// <summary>Waits for the child to own its streams; returns how many it owns.</summary>
    public async Task<int> WaitOwnedAsync(TimeSpan timeout)
    {
        var line = await ReadUntilAsync(Owned, timeout + TimeSpan.FromSeconds(30));
        return int.Parse(line[Owned.Length..], CultureInfo.InvariantCulture);
    }

    /// <summary>Crashes the child; returns each stream's deadline (Redis clock, Unix ms) as the child last knew it.</summary>
    public async Task<IReadOnlyDictionary<string, double>> CrashAsync(TimeSpan lease)
    {
        await _process.StandardInput.WriteLineAsync("crash");
        await _process.StandardInput.FlushAsync();
        await ReadUntilAsync(Crashing, lease + TimeSpan.FromSeconds(30));
        if (!_process.WaitForExit(TimeSpan.FromSeconds(10)))
        {
            _process.Kill();
        }

        var deadlines = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in await File.ReadAllLinesAsync(_deadlinesFile))
        {
            var tab = line.IndexOf('\t', StringComparison.Ordinal);
            deadlines[line[..tab]] = double.Parse(line[(tab + 1)..], CultureInfo.InvariantCulture);
        }

        File.Delete(_deadlinesFile);
        return deadlines;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        if (File.Exists(_deadlinesFile))
        {
            File.Delete(_deadlinesFile);
        }
    }

    private async Task<string> ReadUntilAsync(string prefix, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            while (await _process.StandardOutput.ReadLineAsync(cancel.Token) is { } line)
            {
                if (line.StartsWith(prefix, StringComparison.Ordinal))
                {
                    return line;
                }

                Console.WriteLine("    [crash-peer] " + line);
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"crash-peer did not print '{prefix.Trim()}' within {timeout.TotalSeconds:F0} s.");
        }

        throw new InvalidOperationException($"crash-peer exited before printing '{prefix.Trim()}'.");
    }

    /// <summary>The child side.</summary>
    public static async Task RunChildAsync(BenchArguments args)
    {
        var streams = args.Int("streams", 1000);
        var lease = TimeSpan.FromSeconds(args.Double("lease-seconds", 5));
        var redis = await ConnectionMultiplexer.ConnectAsync(RedisProcess.ConnectionStringFor(args.Redis!));
        var options = new RecoverableStreamOptions
        {
            ServiceName = args.Get("service"),
            LeaseDuration = lease,
            MaxConcurrentStreams = streams,
        };
        var consumer = await BenchConsumer.StartAsync(redis, options);
        Console.WriteLine(Ready);
        try
        {
            await Wait.UntilAsync(() => consumer.Client.OwnedStreams.Count >= streams, SuiteSettings.AcquireTimeout(streams), $"{streams} owned streams", 20);
        }
        catch (TimeoutException)
        {
            // The parent reads the count and reports the shortfall.
        }

        Console.WriteLine(Owned + consumer.Client.OwnedStreams.Count.ToString(CultureInfo.InvariantCulture));
        if (await Console.In.ReadLineAsync() != "crash")
        {
            Environment.Exit(1);
        }

        // Crash right after a renewal completed, so the deadlines read here are the ones Redis holds.
        var leases = consumer.Client.OwnedStreams;
        if (leases.Count > 0)
        {
            var before = leases[0].ExpiresAt;
            try
            {
                await Wait.UntilAsync(() => leases[0].ExpiresAt != before || !leases[0].IsOwned, lease, "a renewal", 1);
            }
            catch (TimeoutException)
            {
            }
        }

        await File.WriteAllLinesAsync(args.Get("deadlines")!, leases.Select(l => $"{l.DataStreamName}\t{l.ExpiresAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)}"));
        Console.WriteLine(Crashing);
        Console.Out.Flush();
        Process.GetCurrentProcess().Kill();
    }
}
