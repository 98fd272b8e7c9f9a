using Microsoft.Extensions.Configuration;
using RecoverableStreams.Hosting.Configuration;

namespace RecoverableStreams.Tests.Hosting;

public sealed class UnknownConfigurationKeysTests
{
    [Test]
    public void Keys_of_either_options_class_are_known_in_any_case_and_others_are_reported_with_their_path()
    {
        var section = Section(new()
        {
            ["RecoverableStreams:servicename"] = "orders",
            ["RecoverableStreams:LeaseDuration"] = "00:00:05",
            ["RecoverableStreams:HandlerRetry:InitialDelay"] = "00:00:01",
            ["RecoverableStreams:HandlerRetry:Backoff"] = "linear",
            ["RecoverableStreams:UnknownConfigurationKeys"] = "Warn",
            ["RecoverableStreams:LeaseDurationn"] = "00:00:05",
        });

        Assert.That(UnknownConfigurationKeys.Find(section, []), Is.EquivalentTo(new[] { "RecoverableStreams:HandlerRetry:Backoff", "RecoverableStreams:LeaseDurationn" }));
    }

    [Test]
    public void Sections_of_keyed_services_under_the_default_section_are_not_unknown()
    {
        var section = Section(new()
        {
            ["RecoverableStreams:ServiceName"] = "orders",
            ["RecoverableStreams:refunds:ServiceName"] = "refunds",
            ["RecoverableStreams:other:ServiceName"] = "x",
        });

        Assert.That(UnknownConfigurationKeys.Find(section, ["refunds"]), Is.EqualTo(new[] { "RecoverableStreams:other" }));
    }

    private static IConfigurationSection Section(Dictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values).Build().GetSection("RecoverableStreams");
}
