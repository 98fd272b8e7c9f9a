using RecoverableStreams.Notifications;

namespace RecoverableStreams.Tests;

public sealed class KeyspaceMergeTests
{
    [TestCase("", "KEtx")]
    [TestCase("Ex", "ExKt")]
    [TestCase("Kx", "KxEt")]
    [TestCase("Ktx", "KtxE")]
    [TestCase("KEtx", "KEtx")]
    [TestCase("KEg$", "KEg$tx")]
    public void Merge_adds_only_the_missing_flags(string current, string expected)
    {
        Assert.That(KeyspaceConfigurator.Merge(current), Is.EqualTo(expected));
    }

    [TestCase("A", "AKE")]
    [TestCase("KA", "KAE")]
    [TestCase("AE", "AEK")]
    public void A_stands_for_every_event_class_so_t_and_x_are_not_added_but_K_and_E_are(string current, string expected)
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
        Assert.That(merged, Does.Contain("E"));
        Assert.That(merged.Contains('A', StringComparison.Ordinal) || (merged.Contains('t', StringComparison.Ordinal) && merged.Contains('x', StringComparison.Ordinal)), Is.True);
        Assert.That(KeyspaceConfigurator.Merge(merged), Is.EqualTo(merged));
    }
}
