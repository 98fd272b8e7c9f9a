using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using RecoverableStreams.Benchmarks.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.Benchmarks.Suite;

/// <summary>
/// One consumer process of the cluster row (<see cref="ClusterScenario"/>): a <see cref="RecoverableStreamClient"/> on
/// the cluster with AutoClaim, whose every owned stream gets a handler waiting in <see cref="StreamLease.ReadEntriesAsync"/>
/// for data that never comes. Protocol: the child prints <c>READY</c>, then <c>STATUS owned lost</c> every second; on
/// stdin, <c>mark</c> starts recording when each stream is added (prints <c>MARKED</c>), <c>deadline</c> waits for the
/// next renewal and prints <c>DEADLINE &lt;Unix ms, Redis clock&gt;</c> (the session's deadline), <c>times &lt;file&gt;</c>
/// writes the recorded times (Unix ms) and prints <c>TIMES</c>, <c>memory</c> prints <c>MEMORY &lt;managed bytes per
/// owned stream&gt; &lt;working set bytes per owned stream&gt; &lt;owned&gt;</c>, measured from before the client started (with blocking full collections: the parent asks last).
/// The figure is the library's plus the smallest handler (one awaiting <see cref="StreamLease.ReadEntriesAsync"/>): the
/// child keeps nothing per stream of its own (no record of each added stream, see <see cref="BenchConsumer"/>).
/// </summary>
internal static class ClusterConsumer
{
    public static async Task RunChildAsync(BenchArguments args)
    {
        var lease = TimeSpan.FromSeconds(args.Double("lease-seconds", 2));
        var redis = await ConnectionMultiplexer.ConnectAsync(args.Get("nodes") + ",allowAdmin=true,abortConnect=false,connectRetry=5,syncTimeout=30000,asyncTimeout=30000");
        var options = new RecoverableStreamOptions
        {
            ServiceName = args.Get("service"),
            ConsumerId = args.Get("consumer"),
            Partitions = args.Int("partitions", 12),
            LeaseDuration = lease,
            MaxConcurrentStreams = args.Int("capacity", 1_000_000),
            AutoClaim = true,
        };

        // Owned streams from the library's leases-held instrument: OwnedStreams would copy 250,000 leases each second (a
        // cost of the benchmark, not of the library), and counting notifications lags behind under load.
        long held = 0;
        using var heldListener = new System.Diagnostics.Metrics.MeterListener();
        heldListener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "recoverable_streams.leases.held")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        heldListener.SetMeasurementEventCallback<long>((_, delta, _, _) => Interlocked.Add(ref held, delta));
        heldListener.Start();
        var managedBefore = GC.GetTotalMemory(forceFullCollection: true);
        var workingSetBefore = Process.GetCurrentProcess().WorkingSet64;
        var recording = 0;
        var times = new ConcurrentQueue<double>();
        var handlers = new CancellationTokenSource();
        var consumer = await BenchConsumer.StartAsync(redis, options, (notification, at) =>
        {
            if (notification is { Type: StreamNotificationType.StreamAdded, Lease: { } owned })
            {
                if (Volatile.Read(ref recording) == 1)
                {
                    times.Enqueue(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
                }

                _ = WaitForDataAsync(owned, handlers.Token);
            }
        }, recordAdded: false);
        Console.WriteLine("READY");
        _ = Task.Run(async () =>
        {
            while (true)
            {
                Console.WriteLine($"STATUS {Interlocked.Read(ref held)} {consumer.Count(StreamNotificationType.StreamDisowned)}");
                await Task.Delay(1000);
            }
        });

        if (Environment.GetEnvironmentVariable("BENCH_CLUSTER_DIAG") == "1")
        {
            StartDiagnostics();
        }

        while (await Console.In.ReadLineAsync() is { } line)
        {
            var parts = line.Split(' ', 2);
            switch (parts[0])
            {
                case "mark":
                    times.Clear();
                    Volatile.Write(ref recording, 1);
                    Console.WriteLine("MARKED");
                    break;
                case "deadline":
                    var leases = consumer.Client.OwnedStreams;
                    var before = leases.Count > 0 ? leases[0].ExpiresAt : default;
                    try
                    {
                        await Wait.UntilAsync(() => leases.Count == 0 || leases[0].ExpiresAt != before || !leases[0].IsOwned, lease, "a renewal", 1);
                    }
                    catch (TimeoutException)
                    {
                    }

                    var deadline = leases.Count > 0 ? leases.Max(l => l.ExpiresAt) : DateTimeOffset.UtcNow;
                    Console.WriteLine("DEADLINE " + deadline.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture));
                    break;
                case "times":
                    await File.WriteAllLinesAsync(parts[1], times.Select(t => t.ToString(CultureInfo.InvariantCulture)));
                    Console.WriteLine("TIMES");
                    break;
                case "memory":
                    // Counted before the collections, which may pause the process past its session's deadline.
                    var ownedBefore = consumer.Client.OwnedStreams.Count;
                    var owned = Math.Max(1, ownedBefore);
                    var managed = GC.GetTotalMemory(forceFullCollection: true) - managedBefore;
                    var workingSet = Process.GetCurrentProcess().WorkingSet64 - workingSetBefore;
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"MEMORY {managed / (double)owned:F0} {workingSet / (double)owned:F0} {ownedBefore}"));
                    break;
            }
        }
    }

    /// <summary>
    /// <c>BENCH_CLUSTER_DIAG=1</c>: every 2 s a line of what delays a renewal here: the slowest renewal, the thread
    /// pool's queue, the GC's pause time and the process' CPU over the last 2 s.
    /// </summary>
    private static void StartDiagnostics()
    {
        var slowest = 0.0;
        var renewals = 0;
        var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "recoverable_streams.session.renewal.duration")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((_, seconds, _, _) =>
        {
            Interlocked.Increment(ref renewals);
            lock (listener)
            {
                slowest = Math.Max(slowest, seconds);
            }
        });
        listener.Start();
        _ = Task.Run(async () =>
        {
            var process = Process.GetCurrentProcess();
            var pause = GC.GetTotalPauseDuration();
            var cpu = process.TotalProcessorTime;
            while (true)
            {
                await Task.Delay(2000);
                process.Refresh();
                double worst;
                lock (listener)
                {
                    worst = slowest;
                    slowest = 0;
                }

                var nowPause = GC.GetTotalPauseDuration();
                var nowCpu = process.TotalProcessorTime;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"diag renewals {Interlocked.Exchange(ref renewals, 0)} slowest {worst * 1000:F0} ms, pool queue {ThreadPool.PendingWorkItemCount} threads {ThreadPool.ThreadCount}, gc pause {(nowPause - pause).TotalMilliseconds:F0} ms (gen2 {GC.CollectionCount(2)}), cpu {(nowCpu - cpu).TotalMilliseconds / 2000:P0}, heap {GC.GetTotalMemory(false) / 1048576} MB"));
                pause = nowPause;
                cpu = nowCpu;
            }
        });
    }

    private static async Task WaitForDataAsync(StreamLease lease, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var entry in lease.ReadEntriesAsync(cancellationToken: cancellationToken))
            {
                _ = entry;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or StreamOwnershipLostException or RedisException)
        {
        }
    }
}
