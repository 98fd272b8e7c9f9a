using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RecoverableStreams.Hosting;
using RecoverableStreams.IntegrationTests.Infrastructure;

namespace RecoverableStreams.IntegrationTests.Hosting;

/// <summary>A hosted worker of a partitioned service (<c>Partitions</c> &gt; 1) starts and handles every partition's streams.</summary>
public sealed class PartitionedHostingTests
{
    [Test]
    public async Task A_hosted_worker_of_a_service_with_three_partitions_handles_streams_of_every_partition()
    {
        var service = TestOptions.NewServiceName();
        var recorder = new Recorder();
        var builder = TestHosts.NewBuilder(service, settings: new Dictionary<string, string?> { ["Partitions"] = "3" });
        builder.Services.AddSingleton(recorder);
        builder.Services.AddRecoverableRedisStreams().AddHandler<HostileInputTests.RecordingHandler>();
        using var host = builder.Build();
        await using var redis = await SharedRedis.Server.ConnectAsync();
        var options = TestOptions.For(service);
        options.Partitions = 3;
        var publisher = new StreamPublisher(redis, options);
        var names = Enumerable.Range(0, 12).Select(i => $"part-{i}-{Guid.NewGuid():N}"[..20]).ToArray();
        var ids = new List<string>();
        foreach (var name in names)
        {
            ids.Add(await publisher.AddStreamAsync(name));
        }

        await host.StartAsync();

        await Eventually.AssertAsync(() => names.All(n => recorder.For(n).Count == 1), TimeSpan.FromSeconds(30), "every stream of the three partitions is handled once");
        Assert.That(ids.Select(id => id.Split(':')[0]).Distinct().Count(), Is.GreaterThan(1), "the streams landed in more than one partition");
        await host.StopAsync();
    }
}
