using RecoverableStreams.Notifications;

namespace RecoverableStreams.Tests;

public sealed class KeyspaceMergeTests
{
    [TestCase("", "Ktx")]
    [TestCase("Ex", "ExKt")]
    [TestCase("Kx", "Kxt")]
    [TestCase("Ktx", "Ktx")]
    [TestCase("KEg$", "KEg$tx")]
    public void Merge_adds_only_the_missing_flags(string current, string expected)
    {
        Assert.That(KeyspaceConfigurator.Merge(current), Is.EqualTo(expected));
    }

    [TestCase("A", "AK")]
    [TestCase("KA", "KA")]
    [TestCase("AE", "AEK")]
    public void A_stands_for_every_event_class_so_t_and_x_are_not_added(string current, string expected)
    {
        Assert.That(KeyspaceConfigurator.Merge(current), Is.EqualTo(expected));
    }

    [TestCase("")]
    [TestCase("E")]
    [TestCase("Kg$lshzxetdnm")]
    [TestCase("AKEnm")]
    [TestCase("Elg")]
    public void Merge_never_removes_a_flag_and_is_idempotent(string current)
    {
        var merged = KeyspaceConfigurator.Merge(current);

        Assert.That(merged, Does.StartWith(current));
        Assert.That(merged, Does.Contain("K"));
        Assert.That(merged.Contains('A', StringComparison.Ordinal) || (merged.Contains('t', StringComparison.Ordinal) && merged.Contains('x', StringComparison.Ordinal)), Is.True);
        Assert.That(KeyspaceConfigurator.Merge(merged), Is.EqualTo(merged));
    }
}
