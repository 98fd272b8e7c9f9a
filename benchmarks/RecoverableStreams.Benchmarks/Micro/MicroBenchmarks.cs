using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace RecoverableStreams.Benchmarks.Micro;

/// <summary>
/// Entry point of the BenchmarkDotNet micro-benchmarks. They run in-process: a generated project would inherit this
/// repository's central package management and warnings-as-errors.
/// </summary>
internal static class MicroBenchmarks
{
    public static void Run(string[] args)
    {
        var config = DefaultConfig.Instance
            .AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance))
            .WithArtifactsPath(Path.Combine(Path.GetTempPath(), "RecoverableStreams.Benchmarks.Artifacts"));
        BenchmarkSwitcher.FromTypes([typeof(LbsEntryParserBenchmarks), typeof(HashSlotBenchmarks)])
            .Run(args.Length == 0 ? ["--filter", "*"] : args, config);
    }
}
