using System.Text;
using RecoverableStreams.Parsing;
using StackExchange.Redis;

namespace RecoverableStreams.Tests;

public sealed class LbsEntryParserTests
{
    private static readonly RecoverableStreamOptions Options = new() { ServiceName = "svc" };

    private static ParsedLbsEntry Parse(string payload, RecoverableStreamOptions? options = null) =>
        new LbsEntryParser(options ?? Options).Parse([new KeyValuePair<string, RedisValue>("lbs-input", payload)]);

    [Test]
    public void A_go_format_entry_yields_the_name_and_the_info()
    {
        var parsed = Parse("""{"DataStreamName":"session-1","Info":{"device":"d1","n":42,"nested":{"a":[1,2]}}}""");

        Assert.That(parsed.IsValid, Is.True, parsed.Error);
        Assert.That(parsed.DataStreamName, Is.EqualTo("session-1"));
        Assert.That(parsed.Info!["device"].GetString(), Is.EqualTo("d1"));
        Assert.That(parsed.Info["n"].GetInt32(), Is.EqualTo(42));
        Assert.That(parsed.Info["nested"].GetProperty("a").GetArrayLength(), Is.EqualTo(2));
    }

    [TestCase("""{"datastreamname":"s","info":{"k":1}}""")]
    [TestCase("""{"DATASTREAMNAME":"s","INFO":{"k":1}}""")]
    [TestCase("""{"dataStreamName":"s","iNfO":{"k":1}}""")]
    public void Property_names_match_in_any_letter_case(string payload)
    {
        var parsed = Parse(payload);

        Assert.That(parsed.IsValid, Is.True, parsed.Error);
        Assert.That(parsed.DataStreamName, Is.EqualTo("s"));
        Assert.That(parsed.Info!["k"].GetInt32(), Is.EqualTo(1));
    }

    [TestCase("""{"DataStreamName":"s"}""")]
    [TestCase("""{"DataStreamName":"s","Info":null}""")]
    public void Info_is_optional(string payload)
    {
        var parsed = Parse(payload);

        Assert.That(parsed.IsValid, Is.True, parsed.Error);
        Assert.That(parsed.Info, Is.Null);
    }

    [Test]
    public void Other_fields_next_to_lbs_input_are_ignored_within_the_field_limit()
    {
        var parsed = new LbsEntryParser(Options).Parse(
        [
            new KeyValuePair<string, RedisValue>("source", "go"),
            new KeyValuePair<string, RedisValue>("lbs-input", """{"DataStreamName":"s"}"""),
        ]);

        Assert.That(parsed.IsValid, Is.True, parsed.Error);
        Assert.That(parsed.DataStreamName, Is.EqualTo("s"));
    }

    [Test]
    public void The_info_outlives_the_parsed_document()
    {
        var parsed = Parse("""{"DataStreamName":"s","Info":{"k":"v"}}""");
        GC.Collect();

        Assert.That(parsed.Info!["k"].GetString(), Is.EqualTo("v"));
    }

    [Test]
    public void Serialize_writes_what_the_go_library_writes_and_parses_back()
    {
        var payload = LbsEntryParser.Serialize("s", new Dictionary<string, object?> { ["n"] = 1 });

        Assert.That(payload, Is.EqualTo("""{"DataStreamName":"s","Info":{"n":1}}"""));
        Assert.That(Parse(payload).DataStreamName, Is.EqualTo("s"));
    }

    [Test]
    public void An_entry_without_the_lbs_input_field_is_rejected()
    {
        var parsed = new LbsEntryParser(Options).Parse([new KeyValuePair<string, RedisValue>("LBS-INPUT", """{"DataStreamName":"s"}""")]);

        Assert.That(parsed.IsValid, Is.False);
        Assert.That(parsed.Error, Does.Contain("no 'lbs-input' field"));
    }

    [Test]
    public void An_entry_with_too_many_fields_is_rejected()
    {
        var options = new RecoverableStreamOptions { ServiceName = "svc", MaxLbsEntryFields = 2 };
        var fields = new List<KeyValuePair<string, RedisValue>>
        {
            new("lbs-input", """{"DataStreamName":"s"}"""),
            new("a", 1),
            new("b", 2),
        };

        var parsed = new LbsEntryParser(options).Parse(fields);

        Assert.That(parsed.Error, Does.Contain("3 fields").And.Contain("MaxLbsEntryFields (2)"));
    }

    [Test]
    public void An_oversized_payload_is_rejected()
    {
        var options = new RecoverableStreamOptions { ServiceName = "svc", MaxLbsPayloadBytes = 100 };
        var payload = "{\"DataStreamName\":\"s\",\"Info\":{\"x\":\"" + new string('x', 200) + "\"}}";

        var parsed = Parse(payload, options);

        Assert.That(parsed.Error, Does.Contain($"{Encoding.UTF8.GetByteCount(payload)} bytes").And.Contain("MaxLbsPayloadBytes (100)"));
    }

    [TestCase("""{"DataStreamName":"s",""", "not valid JSON")]
    [TestCase("not json at all", "not valid JSON")]
    [TestCase("", "not valid JSON")]
    [TestCase("""["DataStreamName","s"]""", "a JSON Array, not an object")]
    [TestCase("\"s\"", "a JSON String, not an object")]
    [TestCase("""{"Info":{}}""", "no DataStreamName")]
    [TestCase("""{"DataStreamName":null}""", "no DataStreamName")]
    [TestCase("""{"DataStreamName":42}""", "DataStreamName is a JSON Number, not a string")]
    [TestCase("""{"DataStreamName":""}""", "DataStreamName is empty")]
    [TestCase("""{"DataStreamName":"   "}""", "DataStreamName is empty")]
    [TestCase("""{"DataStreamName":"s","Info":[1,2]}""", "Info is a JSON Array, not an object")]
    [TestCase("""{"DataStreamName":"s","Info":"text"}""", "Info is a JSON String, not an object")]
    [TestCase("""{"DataStreamName":"s","Info":7}""", "Info is a JSON Number, not an object")]
    public void A_malformed_payload_is_rejected_with_its_reason(string payload, string reason)
    {
        var parsed = Parse(payload);

        Assert.That(parsed.IsValid, Is.False);
        Assert.That(parsed.DataStreamName, Is.Null);
        Assert.That(parsed.Error, Does.Contain(reason));
    }

    [Test]
    public void A_too_long_data_stream_name_is_rejected()
    {
        var options = new RecoverableStreamOptions { ServiceName = "svc", MaxDataStreamNameLength = 5 };

        var parsed = Parse("""{"DataStreamName":"abcdef"}""", options);

        Assert.That(parsed.Error, Does.Contain("6 characters").And.Contain("MaxDataStreamNameLength (5)"));
    }

    [Test]
    public void Info_nested_deeper_than_the_limit_is_rejected()
    {
        var options = new RecoverableStreamOptions { ServiceName = "svc", MaxInfoDepth = 3 };

        var parsed = Parse("""{"DataStreamName":"s","Info":{"a":{"b":{"c":1}}}}""", options);

        Assert.That(parsed.Error, Does.Contain("MaxInfoDepth (3)"));
        Assert.That(Parse("""{"DataStreamName":"s","Info":{"a":1}}""", options).IsValid, Is.True);
    }
}
