using System.Reflection;
using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.DataStreams;

/// <summary>
/// Handlers that start (or wake) together do not flood the shared connection: at most a few hundred data-stream reads
/// are in flight at once, so the session's renewal never waits behind one read per stream. Without the bound, 100,000
/// handlers starting together delayed the renewal of 2 s leases past the local deadline and every lease ended
/// (docs/BENCHMARKS.md, the soak). The reads are counted by a decorator around the application's own multiplexer, on
/// a private server paused with CLIENT PAUSE so that no read completes while the handlers start.
/// </summary>
[NonParallelizable]
public sealed class ReadConcurrencyTests
{
    private const int Streams = 1_000;

    [Test]
    public async Task A_thousand_handlers_starting_together_keep_at_most_a_few_hundred_reads_in_flight()
    {
        await using var server = await RedisServer.StartAsync("--save", "");
        await using var redis = await server.ConnectAsync();
        await using var admin = await server.ConnectAsync();
        var counted = ReadCounter.Wrap(redis, out var counter);
        var service = TestOptions.NewServiceName();
        var options = TestOptions.For(service, lease: TimeSpan.FromSeconds(30), autoClaim: true, maxConcurrentStreams: Streams);
        await using var consumer = await TestConsumer.StartAsync(counted, options);
        var publisher = new StreamPublisher(redis, TestOptions.For(service));
        await Task.WhenAll(Enumerable.Range(0, Streams).Select(i => publisher.AddStreamAsync($"{service}:data:{i}")));
        await Eventually.AssertAsync(() => consumer.Client.OwnedStreams.Count == Streams, TimeSpan.FromSeconds(120), $"the consumer owns all {Streams} streams");

        using var stop = new CancellationTokenSource();
        await admin.GetServer(server.EndPoint).ExecuteAsync("CLIENT", "PAUSE", "5000", "ALL");
        var handlers = consumer.Client.OwnedStreams.Select(lease => Task.Run(async () =>
        {
            await foreach (var _ in lease.ReadEntriesAsync(cancellationToken: stop.Token))
            {
            }
        })).ToArray();
        // Every handler registered with the watcher issues its first read at once, or waits for a read slot.
        await Eventually.AssertAsync(() => consumer.Client.DataStreams.RegisteredReaders == Streams, TimeSpan.FromSeconds(30), "every handler started reading");
        var peak = counter.Peak;
        // CLIENT UNPAUSE waits out the pause too (the admin connection is paused as well): about 5 s.
        await admin.GetServer(server.EndPoint).ExecuteAsync("CLIENT", "UNPAUSE");
        await stop.CancelAsync();
        await Task.WhenAll(handlers).ContinueWith(_ => { }, TaskScheduler.Default);

        await TestContext.Out.WriteLineAsync($"data-stream reads in flight at once while Redis was paused: {peak}");
        // 256, and a few more: the counter lowers its count in a continuation, after the reader's slot was released.
        Assert.That(peak, Is.InRange(1, 256 + 16), "at most 256 handler reads in flight");
    }

    /// <summary>Counts the XRANGE reads in flight through a multiplexer (a DispatchProxy around IDatabase).</summary>
    // DispatchProxy.Create derives a type from it at run time: it must not be sealed.
    #pragma warning disable CA1852
    internal class ReadCounter : DispatchProxy
    #pragma warning restore CA1852
    {
        private object _target = null!;
        private Counter _counter = null!;

        public sealed class Counter
        {
            private int _inFlight;
            private int _peak;

            public int InFlight => Volatile.Read(ref _inFlight);

            public int Peak => Volatile.Read(ref _peak);

            public void Started()
            {
                var now = Interlocked.Increment(ref _inFlight);
                int peak;
                while (now > (peak = Volatile.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, now, peak) != peak)
                {
                }
            }

            public void Ended() => Interlocked.Decrement(ref _inFlight);
        }

        public static IConnectionMultiplexer Wrap(IConnectionMultiplexer redis, out Counter counter)
        {
            counter = new Counter();
            return Create<IConnectionMultiplexer>(redis, counter);
        }

        private static T Create<T>(object target, Counter counter)
            where T : class
        {
            var proxy = DispatchProxy.Create<T, ReadCounter>();
            var self = (ReadCounter)(object)proxy;
            self._target = target;
            self._counter = counter;
            return proxy;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            object? result;
            try
            {
                result = targetMethod!.Invoke(_target, args);
            }
            catch (TargetInvocationException ex) when (ex.InnerException is not null)
            {
                throw ex.InnerException;
            }

            if (targetMethod.Name == nameof(IConnectionMultiplexer.GetDatabase) && result is IDatabase db)
            {
                return Create<IDatabase>(db, _counter);
            }

            if (targetMethod.Name == nameof(IDatabase.StreamRangeAsync) && result is Task task)
            {
                _counter.Started();
                task.ContinueWith(_ => _counter.Ended(), TaskScheduler.Default);
            }

            return result;
        }
    }
}
