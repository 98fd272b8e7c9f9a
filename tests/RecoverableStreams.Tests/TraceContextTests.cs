using System.Diagnostics;
using System.Text.Json;
using RecoverableStreams.Diagnostics;
using RecoverableStreams.Hosting.Diagnostics;

namespace RecoverableStreams.Tests;

/// <summary>The trace context a publisher writes into Info, and what the consumer side reads back.</summary>
public sealed class TraceContextTests
{
    [Test]
    public void The_publisher_adds_traceparent_to_a_copy_and_the_consumer_reads_the_same_context_back()
    {
        using var activity = new Activity("request").SetIdFormat(ActivityIdFormat.W3C).Start();
        activity.TraceStateString = "vendor=1";
        var callers = new Dictionary<string, object?> { ["customer"] = "c-7" };

        var written = PublishTracing.Inject(callers, activity)!;

        Assert.That(callers.Keys, Is.EqualTo(new[] { "customer" }), "the caller's dictionary is not changed");
        Assert.That(written[CoreDiagnostics.TraceParentInfoKey], Is.EqualTo($"00-{activity.TraceId}-{activity.SpanId}-00"));
        var read = HostingActivity.ProducerContext(AsInfo(written));
        Assert.That((read.TraceId, read.SpanId, read.TraceState, read.IsRemote), Is.EqualTo((activity.TraceId, activity.SpanId, "vendor=1", true)));
    }

    [Test]
    public void Without_a_trace_or_with_the_callers_own_traceparent_the_info_is_left_as_it_is()
    {
        var own = new Dictionary<string, object?> { [CoreDiagnostics.TraceParentInfoKey] = "mine" };
        using var activity = new Activity("request").SetIdFormat(ActivityIdFormat.W3C).Start();
        Assert.That(PublishTracing.Inject(own, activity), Is.SameAs(own));
        Assert.That(PublishTracing.Inject(null, null), Is.Null);
    }

    [TestCase(null)]
    [TestCase("""{"customer":"c-7"}""")]
    [TestCase("""{"traceparent":"not-a-traceparent"}""")]
    [TestCase("""{"traceparent":42}""")]
    [TestCase("""{"traceparent":"\ud800","tracestate":"\udc00"}""")]
    public void A_missing_or_malformed_traceparent_gives_a_root_span(string? info)
    {
        var parsed = info is null ? null : Parse(info);
        Assert.That(HostingActivity.ProducerContext(parsed), Is.EqualTo(default(ActivityContext)));
    }

    [Test]
    public void Baggage_goes_through_the_propagator_and_comes_back_on_the_consumer_side()
    {
        using var activity = new Activity("request").SetIdFormat(ActivityIdFormat.W3C).AddBaggage("tenant", "t-1").Start();

        var written = PublishTracing.Inject(null, activity, DistributedContextPropagator.CreateW3CPropagator())!;

        var baggage = HostingActivity.ProducerBaggage(AsInfo(written), DistributedContextPropagator.CreateW3CPropagator());
        Assert.That(baggage, Does.Contain(new KeyValuePair<string, string?>("tenant", "t-1")));
    }

    [Test]
    public void The_apps_propagator_decides_what_is_written()
    {
        using var activity = new Activity("request").SetIdFormat(ActivityIdFormat.W3C).Start();
        Assert.That(PublishTracing.Inject(null, activity, DistributedContextPropagator.CreateNoOutputPropagator()), Is.Null, "a propagator that writes nothing leaves Info as it was");
    }

    [Test]
    public void Baggage_that_is_no_text_is_ignored()
    {
        var info = Parse("""{"baggage":"\ud800"}""");
        Assert.That(HostingActivity.ProducerBaggage(info), Is.Empty);
    }

    /// <summary>Info as the parser hands it over: raw JSON values, text or not.</summary>
    private static Dictionary<string, JsonElement> Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone());
    }

    private static Dictionary<string, JsonElement> AsInfo(IDictionary<string, object?> info) =>
        JsonSerializer.SerializeToElement(info).EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone());
}
