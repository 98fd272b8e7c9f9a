using RecoverableStreams.Hosting.Routing;

namespace RecoverableStreams.Tests.Hosting;

public sealed class RoutingTests
{
    [TestCase("orders:*", "orders:1", true)]
    [TestCase("orders:*", "orders:", true)]
    [TestCase("orders:*", "order:1", false)]
    [TestCase("orders:?", "orders:12", false)]
    [TestCase("*:vip-?", "orders:vip-7", true)]
    [TestCase("a*b*c", "axxbyyc", true)]
    [TestCase("a*b*c", "axxbyy", false)]
    [TestCase("Orders:*", "orders:1", false)]
    [TestCase("*", "", true)]
    public void Glob_matches_star_and_question_mark_ordinally(string pattern, string name, bool expected) =>
        Assert.That(new GlobPattern(pattern).IsMatch(name), Is.EqualTo(expected));

    [Test]
    public void The_most_specific_pattern_wins_then_the_default_route()
    {
        var router = new HandlerRouter(
        [
            new HandlerRegistration(null, typeof(string)),
            new HandlerRegistration("orders:*", typeof(int)),
            new HandlerRegistration("orders:vip-?", typeof(long)),
            new HandlerRegistration("orders:vip-1", typeof(double)),
        ]);

        Assert.Multiple(() =>
        {
            Assert.That(router.Find("orders:vip-1"), Is.EqualTo(typeof(double)));
            Assert.That(router.Find("orders:vip-2"), Is.EqualTo(typeof(long)));
            Assert.That(router.Find("orders:vip-22"), Is.EqualTo(typeof(int)));
            Assert.That(router.Find("misc"), Is.EqualTo(typeof(string)));
        });
    }

    [Test]
    public void Without_a_default_route_an_unmatched_stream_has_no_handler()
    {
        var router = new HandlerRouter([new HandlerRegistration("orders:*", typeof(int))]);
        Assert.That(router.Find("misc"), Is.Null);
    }
}
