using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using RecoverableStreams.IntegrationTests.Infrastructure;

namespace RecoverableStreams.IntegrationTests.Hosting;

/// <summary>
/// The publish side of trace context uses the application's <see cref="DistributedContextPropagator"/> from DI, as the
/// run side does, not only <see cref="DistributedContextPropagator.Current"/>.
/// </summary>
public sealed class PublisherPropagatorTests
{
    [TestCase(false)]
    [TestCase(true)]
    public async Task The_hosted_publisher_writes_trace_context_through_the_propagator_registered_in_DI(bool registered)
    {
        var service = TestOptions.NewServiceName();
        var builder = TestHosts.NewBuilder(service);
        builder.Services.AddRecoverableRedisStreams().AddRecoverableStreamPublisher();
        if (registered)
        {
            // An application that propagates nothing (DistributedContextPropagator.Current stays the default, which writes traceparent).
            builder.Services.AddSingleton(DistributedContextPropagator.CreateNoOutputPropagator());
        }

        using var host = builder.Build();
        var publisher = host.Services.GetRequiredService<IStreamPublisher>();
        using (var activity = new Activity("publish-test").SetIdFormat(ActivityIdFormat.W3C).Start())
        {
            await publisher.AddStreamAsync("traced-order");
        }

        await using var redis = await SharedRedis.Server.ConnectAsync();
        var entry = (await redis.GetDatabase().StreamRangeAsync(TestHosts.LbsKey(service))).Single();
        var payload = entry.Values.Single(v => v.Name == LbsInputMessage.FieldName).Value.ToString();
        if (registered)
        {
            Assert.That(payload, Does.Not.Contain(CoreDiagnostics.TraceParentInfoKey), "the registered propagator writes nothing");
        }
        else
        {
            Assert.That(payload, Does.Contain(CoreDiagnostics.TraceParentInfoKey), "without one, DistributedContextPropagator.Current writes the W3C context");
        }
    }
}
