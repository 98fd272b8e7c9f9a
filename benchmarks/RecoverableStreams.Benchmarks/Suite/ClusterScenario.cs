using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using RecoverableStreams.Benchmarks.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.Benchmarks.Suite;

/// <summary>
/// <c>eng/bench.sh --cluster</c>: a local Redis Cluster of 3 primaries (started and stopped here, by PID), a service
/// with <see cref="RecoverableStreamOptions.Partitions"/> spread over the shards, N idle streams with a waiting reader
/// each over C consumer processes (<see cref="ClusterConsumer"/>), 2 s leases. Reports, over the window: commands/s and
/// redis-server CPU per shard, leases lost; worker memory per owned stream; then one consumer (the one owning most) is
/// killed, and each of its streams' re-owning time after its session's deadline (p50/p99/max). Every size is an
/// environment variable, so the row runs at a reduced scale on a shared machine.
/// </summary>
internal static class ClusterScenario
{
    public static async Task<string> RunAsync(BenchArguments args)
    {
        var streams = EnvInt("BENCH_CLUSTER_STREAMS", args.Int("streams", 1_000_000));
        var consumers = EnvInt("BENCH_CLUSTER_CONSUMERS", args.Int("consumers", 4));
        var primaries = EnvInt("BENCH_CLUSTER_PRIMARIES", 3);
        var partitions = EnvInt("BENCH_CLUSTER_PARTITIONS", args.Int("partitions", 12));
        var duration = TimeSpan.FromSeconds(EnvInt("BENCH_DURATION", args.Int("duration-seconds", 300)));
        var lease = TimeSpan.FromSeconds(args.Double("lease-seconds", 2));
        var service = $"cluster-{Guid.NewGuid():N}"[..20];
        var lines = new List<string>();
        void Report(string line)
        {
            Console.WriteLine(line);
            lines.Add(line);
        }

        var started = DateTimeOffset.UtcNow;
        Report($"## cluster (eng/bench.sh --cluster)\n\n{started:u}; {primaries} primaries, {partitions} partitions, {streams:N0} streams, {consumers} consumer processes, {lease.TotalSeconds:0.#} s leases, window {duration.TotalSeconds:0} s; {Environment.ProcessorCount} logical cores, load average at start {MachineInfo.LoadAverage()}\n");
        await using var cluster = await RedisClusterProcesses.StartAsync(primaries);
        Report($"- cluster: redis-server pids {string.Join(", ", cluster.ProcessIds)} on ports {string.Join(", ", cluster.Ports)}");
        using var redis = await ConnectionMultiplexer.ConnectAsync(cluster.ConnectionString);
        var servers = cluster.Servers(redis);
        var nodes = string.Join(",", cluster.Ports.Select(p => "127.0.0.1:" + p.ToString(CultureInfo.InvariantCulture)));

        var children = new List<Child>();
        try
        {
            var seeding = Stopwatch.StartNew();
            var publisher = new StreamPublisher(redis, new RecoverableStreamOptions { ServiceName = service, Partitions = partitions });
            var inFlight = new List<Task>(2000);
            for (var i = 0; i < streams; i++)
            {
                inFlight.Add(publisher.AddStreamAsync($"{service}-data-{i}"));
                if (inFlight.Count == 2000)
                {
                    await Task.WhenAll(inFlight);
                    inFlight.Clear();
                }
            }

            await Task.WhenAll(inFlight);
            Report($"- announced {streams:N0} streams in {seeding.Elapsed.TotalSeconds:F0} s");

            var setup = Stopwatch.StartNew();
            for (var i = 0; i < consumers; i++)
            {
                children.Add(Child.Start(nodes, service, $"c{i}", partitions, streams, lease));
            }

            await Task.WhenAll(children.Select(c => c.WaitForAsync("READY", TimeSpan.FromSeconds(120))));
            // 60 s + 2 s per 1,000 streams (about 34 minutes at 1,000,000): four processes share two cores with Redis.
            var setupDeadline = TimeSpan.FromSeconds(60 + (streams / 500.0));
            await Wait.UntilAsync(() => children.Sum(c => c.Owned) >= streams, setupDeadline, $"{streams:N0} owned streams", 200);
            Report($"- all {streams:N0} owned {setup.Elapsed.TotalSeconds:F0} s after the consumers started: {string.Join(" / ", children.Select(c => c.Owned.ToString("N0", CultureInfo.InvariantCulture)))}");

            // Let the handlers' first reads and the rebalancing settle before the window.
            await Task.Delay(TimeSpan.FromSeconds(5));
            var lostBefore = children.Sum(c => c.Lost);
            var before = await Task.WhenAll(servers.Select(RedisUsage.SnapshotAsync));
            await Task.Delay(duration);
            var after = await Task.WhenAll(servers.Select(RedisUsage.SnapshotAsync));
            var lost = children.Sum(c => c.Lost) - lostBefore;
            var owned = children.Sum(c => c.Owned);

            Report("\n| shard | commands/s | redis-server CPU ms/s | top commands |\n|---|---:|---:|---|");
            for (var s = 0; s < servers.Count; s++)
            {
                var usage = RedisUsage.Between(before[s], after[s]);
                Report($"| 127.0.0.1:{cluster.Ports[s]} | {usage.CommandsPerSecond:N0} | {usage.CpuMsPerSecond:F1} | {usage.TopCommands} |");
            }

            Report($"\n- leases lost in the window: {lost:N0}; owned at its end: {owned:N0} of {streams:N0}");

            // The crash: the consumer owning most is killed right after a renewal; survivors re-own its streams.
            var victim = children.OrderByDescending(c => c.Owned).First();
            var survivors = children.Where(c => c != victim).ToList();
            var victimOwned = victim.Owned;
            await Task.WhenAll(survivors.Select(c => c.AskAsync("mark", "MARKED", TimeSpan.FromSeconds(30))));
            var deadline = double.Parse((await victim.AskAsync("deadline", "DEADLINE", lease + TimeSpan.FromSeconds(30))).Split(' ')[1], CultureInfo.InvariantCulture);
            victim.Kill();
            var crashAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            try
            {
                await Wait.UntilAsync(() => survivors.Sum(c => c.Owned) >= streams, lease + SuiteSettings.AcquireTimeout(victimOwned), "every stream re-owned", 100);
            }
            catch (TimeoutException)
            {
                Report($"- timeout: {survivors.Sum(c => c.Owned):N0} of {streams:N0} owned by the survivors");
            }

            var times = new List<double>();
            foreach (var survivor in survivors)
            {
                var file = Path.Combine(Path.GetTempPath(), $"cluster-times-{Guid.NewGuid():N}.txt");
                await survivor.AskAsync("times " + file, "TIMES", TimeSpan.FromSeconds(60));
                times.AddRange((await File.ReadAllLinesAsync(file)).Select(l => double.Parse(l, CultureInfo.InvariantCulture) - deadline));
                File.Delete(file);
            }

            Report($"\n- crash of {victim.Name}, owning {victimOwned:N0} streams (killed {deadline - crashAt:F0} ms before its deadline): {times.Count:N0} streams re-owned; after the session's deadline p50 {Stats.Ms(Stats.Percentile(times, 50))}, p99 {Stats.Ms(Stats.Percentile(times, 99))}, max {Stats.Ms(times.Count == 0 ? double.NaN : times.Max())}");
            // Memory last, one survivor at a time: its full blocking collections pause the process for up to a second
            // with 250,000 streams, longer than a 2 s lease's sessions tolerate, so it must not run before the window
            // or the crash (it did, and the sessions it paused ended and churned the window).
            foreach (var child in survivors)
            {
                var parts = (await child.AskAsync("memory", "MEMORY", TimeSpan.FromSeconds(120))).Split(' ');
                Report($"- worker {child.Name} (pid {child.ProcessId}), measured after the crash: {parts[1]} bytes managed and {parts[2]} bytes working set per owned stream, owning {int.Parse(parts[3], CultureInfo.InvariantCulture):N0}");
            }

            Report($"- load average at the end {MachineInfo.LoadAverage()}");
        }
        finally
        {
            foreach (var child in children)
            {
                child.Kill();
            }
        }

        var path = args.SummaryPath ?? Path.Combine(ResultsDirectory(), $"cluster-{started:yyyyMMdd-HHmmss}.md");
        await File.WriteAllTextAsync(path, string.Join('\n', lines) + "\n");
        return path;
    }

    private static int EnvInt(string name, int fallback) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } text ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;

    private static string ResultsDirectory()
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "RecoverableStreams.Hosting.sln")))
            {
                return Directory.CreateDirectory(Path.Combine(dir.FullName, "benchmarks", "results")).FullName;
            }
        }

        return Directory.CreateDirectory("results").FullName;
    }

    /// <summary>A <see cref="ClusterConsumer"/> process: its latest status, and one request at a time.</summary>
    private sealed class Child
    {
        private readonly Process _process;
        private readonly ConcurrentQueue<string> _replies = new();
        private volatile int _owned;
        private volatile int _lost;

        private Child(Process process, string name)
        {
            _process = process;
            Name = name;
            _ = Task.Run(ReadAsync);
        }

        public string Name { get; }

        public int ProcessId => _process.Id;

        public int Owned => _owned;

        public int Lost => _lost;

        public static Child Start(string nodes, string service, string name, int partitions, int capacity, TimeSpan lease)
        {
            var info = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
            if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
            {
                info.ArgumentList.Add(System.Reflection.Assembly.GetEntryAssembly()!.Location);
            }

            foreach (var argument in new[] { "cluster-consumer", "--nodes", nodes, "--service", service, "--consumer", name, "--partitions", partitions.ToString(CultureInfo.InvariantCulture), "--capacity", capacity.ToString(CultureInfo.InvariantCulture), "--lease-seconds", lease.TotalSeconds.ToString(CultureInfo.InvariantCulture) })
            {
                info.ArgumentList.Add(argument);
            }

            return new Child(Process.Start(info) ?? throw new InvalidOperationException("cluster-consumer did not start."), name);
        }

        public Task<string> WaitForAsync(string prefix, TimeSpan timeout) => NextReplyAsync(prefix, timeout);

        public async Task<string> AskAsync(string command, string replyPrefix, TimeSpan timeout)
        {
            await _process.StandardInput.WriteLineAsync(command);
            await _process.StandardInput.FlushAsync();
            return await NextReplyAsync(replyPrefix, timeout);
        }

        public void Kill()
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
        }

        private async Task<string> NextReplyAsync(string prefix, TimeSpan timeout)
        {
            var watch = Stopwatch.StartNew();
            while (watch.Elapsed < timeout)
            {
                while (_replies.TryDequeue(out var reply))
                {
                    if (reply.StartsWith(prefix, StringComparison.Ordinal))
                    {
                        return reply;
                    }
                }

                if (_process.HasExited)
                {
                    throw new InvalidOperationException($"cluster-consumer {Name} exited before printing '{prefix}'.");
                }

                await Task.Delay(20);
            }

            throw new TimeoutException($"cluster-consumer {Name} did not print '{prefix}' within {timeout.TotalSeconds:F0} s.");
        }

        private async Task ReadAsync()
        {
            while (await _process.StandardOutput.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("STATUS ", StringComparison.Ordinal))
                {
                    var parts = line.Split(' ');
                    _owned = int.Parse(parts[1], CultureInfo.InvariantCulture);
                    _lost = int.Parse(parts[2], CultureInfo.InvariantCulture);
                }
                else if (line.Length > 0 && char.IsUpper(line[0]) && line.Split(' ')[0].All(char.IsUpper))
                {
                    _replies.Enqueue(line);
                }
                else
                {
                    Console.WriteLine($"    [{Name}] {line}");
                }
            }
        }
    }
}
