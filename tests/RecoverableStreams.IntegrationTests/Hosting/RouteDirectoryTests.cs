using RecoverableStreams.Hosting.Routing;
using RecoverableStreams.IntegrationTests.Infrastructure;

namespace RecoverableStreams.IntegrationTests.Hosting;

/// <summary>The routes scripts (advertise_routes.lua, live_routes.lua) against a real Redis: who handles what, and for how long.</summary>
[Parallelizable(ParallelScope.Self)]
public sealed class RouteDirectoryTests : SharedRedisTest
{
    [Test]
    public async Task A_live_peer_advertising_a_matching_pattern_is_found_and_its_advertisement_ends_with_its_time_to_live_or_withdrawal()
    {
        var options = TestOptions.For(lease: TimeSpan.FromSeconds(1));
        var db = Redis.GetDatabase();
        var a = new RouteDirectory(db, options, Router(("a-*", typeof(string))), "host-a");
        var b = new RouteDirectory(db, options, Router(("b-*", typeof(string)), ("vip-?", typeof(int))), "host-b");
        await a.AdvertiseAsync();
        await b.AdvertiseAsync();

        Assert.Multiple(async () =>
        {
            Assert.That(await a.AnyLivePeerHandlesAsync("b-1"), Is.True, "B handles b-*");
            Assert.That(await a.AnyLivePeerHandlesAsync("vip-7"), Is.True, "B handles vip-?");
            Assert.That(await a.AnyLivePeerHandlesAsync("vip-77"), Is.False, "'?' is one character");
            Assert.That(await a.AnyLivePeerHandlesAsync("a-1"), Is.False, "A itself does not count as a peer");
            Assert.That(await a.AnyLivePeerHandlesAsync("c-1"), Is.False, "nobody handles c-*");
            Assert.That(await b.AnyLivePeerHandlesAsync("a-1"), Is.True);
        });

        await b.WithdrawAsync();
        Assert.That(await a.AnyLivePeerHandlesAsync("b-1"), Is.False, "a withdrawn worker handles nothing");

        // A default route advertises "*"; without a refresh it is forgotten after three lease durations.
        var fallback = new RouteDirectory(db, options, Router((null, typeof(string))), "host-default");
        await fallback.AdvertiseAsync();
        Assert.That(await a.AnyLivePeerHandlesAsync("anything"), Is.True, "a default route handles every stream");
        var routesKey = "{" + options.ServiceName + "-input}:routes";
        await Eventually.AssertAsync(async () => !await a.AnyLivePeerHandlesAsync("anything"), TimeSpan.FromSeconds(15), "an advertisement past its deadline is ignored");
        Assert.That(await db.HashExistsAsync(routesKey, fallback.Member), Is.False, "and deleted by the lookup");
        Assert.That(await db.HashExistsAsync(routesKey, a.Member), Is.False, "A's own advertisement expired as well (it was never refreshed)");
    }

    private static HandlerRouter Router(params (string? Pattern, Type Handler)[] routes) =>
        new(routes.Select(r => new RecoverableStreams.Hosting.Routing.HandlerRegistration(r.Pattern, r.Handler)));
}
