using BenchmarkDotNet.Attributes;
using RecoverableStreams.Keys;

namespace RecoverableStreams.Benchmarks.Micro;

/// <summary>Cluster hash slots of LBS and control keys.</summary>
[MemoryDiagnoser]
public class HashSlotBenchmarks
{
    [Benchmark(Baseline = true)]
    public int Plain_key() => HashSlot.Of("orders-service-input");

    [Benchmark]
    public int Hash_tagged_key() => HashSlot.Of("{orders-service-input}:lease:1700000000000-0");
}
