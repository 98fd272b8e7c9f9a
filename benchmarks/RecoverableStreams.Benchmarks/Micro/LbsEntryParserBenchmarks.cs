using BenchmarkDotNet.Attributes;
using RecoverableStreams.Parsing;
using StackExchange.Redis;

namespace RecoverableStreams.Benchmarks.Micro;

/// <summary>Parsing LBS entries as the reader does for every delivered or claimed entry.</summary>
[MemoryDiagnoser]
public class LbsEntryParserBenchmarks
{
    private readonly LbsEntryParser _parser = new(new RecoverableStreamOptions { ServiceName = "bench" });
    private List<KeyValuePair<string, RedisValue>> _nameOnly = [];
    private List<KeyValuePair<string, RedisValue>> _withInfo = [];

    [GlobalSetup]
    public void SetUp()
    {
        _nameOnly = [new(LbsInputMessage.FieldName, LbsEntryParser.Serialize("session-000000042", null))];
        var info = new Dictionary<string, object?>
        {
            ["tenant"] = "acme",
            ["device"] = 1234,
            ["tags"] = new[] { "a", "b", "c" },
            ["nested"] = new Dictionary<string, object?> { ["region"] = "eu-west", ["priority"] = 3 },
        };
        _withInfo = [new(LbsInputMessage.FieldName, LbsEntryParser.Serialize("session-000000042", info))];
    }

    [Benchmark(Baseline = true)]
    public object Parse_name_only() => _parser.Parse(_nameOnly);

    [Benchmark]
    public object Parse_with_info() => _parser.Parse(_withInfo);

    [Benchmark]
    public string Serialize_name_only() => LbsEntryParser.Serialize("session-000000042", null);
}
