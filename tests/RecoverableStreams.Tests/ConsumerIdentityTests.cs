using RecoverableStreams.Configuration;

namespace RecoverableStreams.Tests;

public sealed class ConsumerIdentityTests
{
    private static Func<string, string?> Environment(string? podName = null, string? podIp = null) =>
        name => name switch
        {
            "POD_NAME" => podName,
            "POD_IP" => podIp,
            _ => null,
        };

    [Test]
    public void An_explicit_id_wins()
    {
        Assert.That(ConsumerIdentity.Resolve("mine", Environment("pod-1", "10.0.0.1")), Is.EqualTo("mine"));
    }

    [Test]
    public void Pod_name_comes_first()
    {
        Assert.That(ConsumerIdentity.Resolve(null, Environment("worker-7d9f", "10.0.0.1")), Is.EqualTo("redis-consumer-worker-7d9f"));
    }

    [Test]
    public void Pod_ip_is_used_without_a_pod_name()
    {
        Assert.That(ConsumerIdentity.Resolve(null, Environment(podIp: "10.0.0.1")), Is.EqualTo("redis-consumer-10.0.0.1"));
        Assert.That(ConsumerIdentity.Resolve("  ", Environment(podName: " ", podIp: "10.0.0.2")), Is.EqualTo("redis-consumer-10.0.0.2"));
    }

    [Test]
    public void Without_either_the_machine_name_and_process_id_are_used()
    {
        Assert.That(ConsumerIdentity.Resolve(null, Environment()),
            Is.EqualTo($"redis-consumer-{System.Environment.MachineName}-{System.Environment.ProcessId}"));
    }

    [Test]
    public void Each_process_start_gets_a_different_instance_id()
    {
        var ids = Enumerable.Range(0, 100).Select(_ => ConsumerIdentity.NewInstanceId()).ToArray();

        Assert.That(ids.Distinct().Count(), Is.EqualTo(ids.Length));
        Assert.That(ids, Has.All.Length.EqualTo(12).And.All.Not.Contain("|"));
    }
}
