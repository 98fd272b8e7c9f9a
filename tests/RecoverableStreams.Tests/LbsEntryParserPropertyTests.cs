using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using FsCheck;
using FsCheck.Fluent;
using RecoverableStreams.Parsing;
using StackExchange.Redis;

namespace RecoverableStreams.Tests;

/// <summary>
/// Whatever a producer writes, the parser returns either a valid entry within the limits or one of its documented
/// errors, and never throws: the LBS reader depends on it to dead-letter bad entries instead of stopping.
/// </summary>
public sealed class LbsEntryParserPropertyTests
{
    // Every error the parser can give (docs/SECURITY.md, "Input limits"); the dead letter's reason is one of these.
    private static readonly Regex[] DocumentedErrors =
    [
        new(@"^the entry has \d+ fields, more than MaxLbsEntryFields \(\d+\)$"),
        new(@"^the entry has no 'lbs-input' field$"),
        new(@"^the payload has \d+ bytes, more than MaxLbsPayloadBytes \(\d+\)$"),
        new(@"^the payload is not valid JSON within MaxInfoDepth \(\d+\): ", RegexOptions.Singleline),
        new(@"^the payload is a JSON \w+, not an object$"),
        new(@"^the payload has no DataStreamName$"),
        new(@"^DataStreamName is a JSON \w+, not a string$"),
        new(@"^DataStreamName is empty$"),
        new(@"^DataStreamName is not valid UTF-16 text$"),
        new(@"^DataStreamName has \d+ characters, more than MaxDataStreamNameLength \(\d+\)$"),
        new(@"^Info is a JSON \w+, not an object$"),
        new(@"^Info has a property name that is not valid UTF-16 text$"),
    ];

    [FsCheck.NUnit.Property(MaxTest = 500)]
    public Property Any_fields_parse_to_a_valid_entry_within_the_limits_or_to_a_documented_error() =>
        Prop.ForAll(Entries().ToArbitrary(), input =>
        {
            var parsed = new LbsEntryParser(input.Options).Parse(input.Fields);
            return parsed.IsValid
                ? parsed.DataStreamName is { } name && !string.IsNullOrWhiteSpace(name) && name.Length <= input.Options.MaxDataStreamNameLength
                : parsed.DataStreamName is null && DocumentedErrors.Any(r => r.IsMatch(parsed.Error!));
        });

    [FsCheck.NUnit.Property(MaxTest = 300)]
    public Property Any_name_and_info_the_publisher_writes_parse_back_unchanged() =>
        Prop.ForAll(Generators.Text().Where(n => !string.IsNullOrWhiteSpace(n) && IsValidUtf16(n)).ToArbitrary(), name =>
        {
            var options = new RecoverableStreamOptions { ServiceName = "s", MaxDataStreamNameLength = 100_000 };
            var payload = LbsEntryParser.Serialize(name, new Dictionary<string, object?> { ["k"] = name });
            var parsed = new LbsEntryParser(options).ParsePayload(Encoding.UTF8.GetBytes(payload));
            return parsed.IsValid && parsed.DataStreamName == name && parsed.Info!["k"].GetString() == name;
        });

    [TestCase("""{"DataStreamName":"\ud800"}""", "DataStreamName is not valid UTF-16 text")]
    [TestCase("""{"DataStreamName":"ok","Info":{"\udc00x":1}}""", "Info has a property name that is not valid UTF-16 text")]
    [TestCase("""{"\ud800":1,"DataStreamName":"ok"}""", null)]
    public void Lone_surrogate_escapes_are_rejected_or_ignored_without_throwing(string payload, string? error)
    {
        var parsed = new LbsEntryParser(new RecoverableStreamOptions { ServiceName = "s" }).ParsePayload(Encoding.UTF8.GetBytes(payload));
        Assert.That(parsed.Error, Is.EqualTo(error));
    }

    private static bool IsValidUtf16(string text)
    {
        try
        {
            _ = new UTF8Encoding(false, throwOnInvalidBytes: true).GetByteCount(text);
            return true;
        }
        catch (EncoderFallbackException)
        {
            return false;
        }
    }

    private static Gen<ParserInput> Entries()
    {
        var fields = Generators.Between(Field(), 0, 8);
        return from options in Limits()
               from f in fields
               select new ParserInput(options, f);
    }

    private static Gen<RecoverableStreamOptions> Limits() =>
        from nameLength in Gen.Choose(1, 40)
        from payloadBytes in Gen.Choose(64, 400)
        from depth in Gen.Choose(2, 8)
        from fields in Gen.Choose(1, 6)
        select new RecoverableStreamOptions
        {
            ServiceName = "s",
            MaxDataStreamNameLength = nameLength,
            MaxLbsPayloadBytes = payloadBytes,
            MaxInfoDepth = depth,
            MaxLbsEntryFields = fields,
        };

    private static Gen<KeyValuePair<string, RedisValue>> Field()
    {
        // Built once: a generator made inside a query's lambda would be rebuilt for every value.
        var key = Gen.Frequency((4, Gen.Constant(LbsInputMessage.FieldName)), (1, Generators.Text()));
        var value = Gen.Frequency((4, Payload().Select(p => (RedisValue)Encoding.UTF8.GetBytes(p))), (1, Generators.Bytes().Select(b => (RedisValue)b)));
        return from k in key
               from v in value
               select new KeyValuePair<string, RedisValue>(k, v);
    }

    /// <summary>JSON-ish text: mostly well-formed objects with odd names and infos, sometimes broken on purpose.</summary>
    private static Gen<string> Payload()
    {
        var nameKey = Gen.Elements("DataStreamName", "datastreamname", "DATASTREAMNAME", "\\ud800", "other");
        var info = Gen.Frequency((2, Gen.Constant("")), (3, JsonValue(7).Select(v => ",\"Info\":" + v)));
        var obj = from k in nameKey
                  from name in JsonValue(2)
                  from i in info
                  select "{\"" + k + "\":" + name + i + "}";
        return Gen.Frequency((6, obj), (1, JsonValue(6)), (1, Generators.Text()));
    }

    private static Gen<string> JsonValue(int depth)
    {
        if (depth <= 0)
        {
            return Scalar();
        }

        var child = JsonValue(depth - 1);
        var keys = Generators.Between(Gen.Elements("a", "Info", "\\udc00", "k\\u0000", "流"), 0, 3);
        var obj = from ks in keys
                  from values in Generators.Between(child, ks.Length, ks.Length)
                  select "{" + string.Join(",", ks.Select((k, i) => "\"" + k + "\":" + values[i])) + "}";
        var array = from values in Generators.Between(child, 0, 3) select "[" + string.Join(",", values) + "]";
        return Gen.Frequency((4, Scalar()), (2, obj), (1, array));
    }

    private static Gen<string> Scalar() =>
        Gen.OneOf(
            Gen.Elements("null", "true", "42", "-1.5e300", "\"\"", "\"  \"", "\"\\ud800\"", "\"\\udc00\\ud800\"", "\"a\\nb\"", "\"\\u0000\"", "\"{tag}:x|y\""),
            Generators.Text().Select(t => JsonSerializer.Serialize(t)));

    public sealed record ParserInput(RecoverableStreamOptions Options, KeyValuePair<string, RedisValue>[] Fields)
    {
        public override string ToString() =>
            $"limits name {Options.MaxDataStreamNameLength} bytes {Options.MaxLbsPayloadBytes} depth {Options.MaxInfoDepth} fields {Options.MaxLbsEntryFields}; " +
            string.Join("; ", Fields.Select(f => f.Key + "=" + f.Value));
    }
}
