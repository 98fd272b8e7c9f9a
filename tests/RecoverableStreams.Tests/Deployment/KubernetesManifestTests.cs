using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using YamlDotNet.RepresentationModel;

namespace RecoverableStreams.Tests.Deployment;

/// <summary>
/// The invariants of deploy/kubernetes that decide whether a rolling update or a drain loses time or streams: the
/// grace period covers preStop and the host's shutdown timeout, which covers the hand-over; identity from the downward
/// API; non-root with a writable /tmp; resources; a disruption budget; probes on a port of their own; a pinned image.
/// </summary>
public sealed class KubernetesManifestTests
{
    private static readonly string Folder = Path.Combine(CompiledSnippets.Root, "deploy", "kubernetes");

    [Test]
    public void Grace_period_exceeds_pre_stop_plus_shutdown_timeout_which_exceeds_the_hand_over_bound()
    {
        var deployment = Deployment();
        var grace = Int(deployment.Path("spec", "template", "spec", "terminationGracePeriodSeconds"));
        var preStop = PreStopSeconds(Worker(deployment));
        var shutdown = ShutdownTimeout();
        var handOver = int.Parse(Scalar(deployment.Path("metadata", "annotations", "recoverable-streams.io/handover-bound-seconds")), CultureInfo.InvariantCulture);

        Assert.Multiple(() =>
        {
            Assert.That(grace, Is.GreaterThan(preStop + shutdown.TotalSeconds), "terminationGracePeriodSeconds must exceed preStop + HostOptions:ShutdownTimeout");
            Assert.That(shutdown.TotalSeconds, Is.GreaterThan(handOver), "HostOptions:ShutdownTimeout must exceed the hand-over bound");
        });
    }

    [Test]
    public void The_worker_reads_the_shutdown_timeout_the_configmap_sets()
    {
        // The host binds HostOptions only when told to: the configmap's value was once silently ignored (30 s default).
        var configuration = new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(AppSettings().GetRawText())))
            .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Redis"] = "localhost:1,abortConnect=false" })
            .Build();
        var services = new ServiceCollection().AddLogging();
        services.AddTelemetryWorker(configuration);
        using var provider = services.BuildServiceProvider();

        Assert.That(provider.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout, Is.EqualTo(ShutdownTimeout()));
    }

    [Test]
    public void Consumer_id_comes_from_the_pod_name_through_the_downward_api()
    {
        var env = (YamlSequenceNode)Worker(Deployment()).Path("env");
        var podName = env.Children.Cast<YamlMappingNode>().Single(e => Scalar(e.Path("name")) == "POD_NAME");
        Assert.That(Scalar(podName.Path("valueFrom", "fieldRef", "fieldPath")), Is.EqualTo("metadata.name"));
    }

    [Test]
    public void Runs_as_a_numeric_non_root_user_with_a_read_only_root_and_a_writable_tmp()
    {
        var deployment = Deployment();
        var pod = deployment.PathMap("spec", "template", "spec");
        var worker = Worker(deployment);
        Assert.Multiple(() =>
        {
            Assert.That(Scalar(pod.Path("securityContext", "runAsNonRoot")), Is.EqualTo("true"));
            Assert.That(Int(pod.Path("securityContext", "runAsUser")), Is.GreaterThan(0));
            Assert.That(Scalar(worker.Path("securityContext", "readOnlyRootFilesystem")), Is.EqualTo("true"));
            Assert.That(Scalar(worker.Path("securityContext", "allowPrivilegeEscalation")), Is.EqualTo("false"));
            var mounts = ((YamlSequenceNode)worker.Path("volumeMounts")).Children.Cast<YamlMappingNode>();
            var tmp = mounts.SingleOrDefault(m => Scalar(m.Path("mountPath")) == "/tmp");
            Assert.That(tmp, Is.Not.Null, "a read-only root filesystem needs a writable /tmp (.NET's diagnostics socket)");
            var volumes = ((YamlSequenceNode)pod.Path("volumes")).Children.Cast<YamlMappingNode>();
            Assert.That(volumes.Any(v => Scalar(v.Path("name")) == Scalar(tmp!.Path("name")) && v.Children.ContainsKey("emptyDir")), Is.True);
        });
    }

    [Test]
    public void Has_cpu_and_memory_requests_and_a_memory_limit()
    {
        var resources = Worker(Deployment()).PathMap("resources");
        Assert.Multiple(() =>
        {
            Assert.That(Scalar(resources.Path("requests", "cpu")), Is.Not.Empty);
            Assert.That(Scalar(resources.Path("requests", "memory")), Is.Not.Empty);
            Assert.That(Scalar(resources.Path("limits", "memory")), Is.Not.Empty);
        });
    }

    [Test]
    public void A_disruption_budget_selects_the_workers_and_is_in_the_kustomization()
    {
        var deployment = Deployment();
        var budget = Documents().Single(d => Kind(d) == "PodDisruptionBudget");
        Assert.Multiple(() =>
        {
            Assert.That(Scalar(budget.Path("spec", "selector", "matchLabels", "app.kubernetes.io/name")),
                Is.EqualTo(Scalar(deployment.Path("spec", "selector", "matchLabels", "app.kubernetes.io/name"))));
            Assert.That(budget.PathMap("spec").Children.ContainsKey("maxUnavailable") || budget.PathMap("spec").Children.ContainsKey("minAvailable"), Is.True);
            Assert.That(KustomizationResources(), Does.Contain("pdb.yaml").And.Contain("deployment.yaml").And.Contain("configmap.yaml"));
            Assert.That(KustomizationResources(), Does.Not.Contain("secret.example.yaml"), "an example secret must never be applied");
        });
    }

    [Test]
    public void Probes_use_the_health_port_the_worker_serves_and_nothing_else_does()
    {
        var worker = Worker(Deployment());
        var ports = ((YamlSequenceNode)worker.Path("ports")).Children.Cast<YamlMappingNode>().ToList();
        var healthPort = AppSettings().GetProperty("HealthProbe").GetProperty("Port").GetInt32();
        Assert.Multiple(() =>
        {
            Assert.That(ports, Has.Count.EqualTo(1), "the worker exposes the probe port only");
            Assert.That(Int(ports[0].Path("containerPort")), Is.EqualTo(healthPort));
            foreach (var probe in new[] { "readinessProbe", "livenessProbe" })
            {
                Assert.That(Scalar(worker.Path(probe, "httpGet", "port")), Is.EqualTo(Scalar(ports[0].Path("name"))).Or.EqualTo(healthPort.ToString(CultureInfo.InvariantCulture)), probe);
                Assert.That(Scalar(worker.Path(probe, "httpGet", "path")), Is.EqualTo("/healthz"), probe);
            }
        });
    }

    [Test]
    public void The_image_names_a_registry_and_an_immutable_tag()
    {
        var image = Scalar(Worker(Deployment()).Path("image"));
        var registry = image.Split('/')[0];
        Assert.Multiple(() =>
        {
            Assert.That(registry.Contains('.', StringComparison.Ordinal) || registry.Contains(':', StringComparison.Ordinal), Is.True, $"no registry host in {image}");
            Assert.That(image, Does.Not.EndWith(":latest"));
            Assert.That(image.Contains('@', StringComparison.Ordinal) || image[image.LastIndexOf('/')..].Contains(':', StringComparison.Ordinal), Is.True, $"no tag or digest in {image}");
        });
    }

    [Test]
    public void The_example_secret_uses_tls_and_an_acl_user()
    {
        var secret = Load("secret.example.yaml").Single(d => Kind(d) == "Secret");
        var connection = Scalar(secret.Path("stringData", "connection-string"));
        Assert.That(connection, Does.Contain("ssl=true").And.Contain("user="));
    }

    private static List<YamlMappingNode> Documents() =>
        KustomizationResources().SelectMany(Load).ToList();

    private static List<string> KustomizationResources() =>
        ((YamlSequenceNode)Load("kustomization.yaml").Single().Path("resources")).Children.Select(Scalar).ToList();

    private static List<YamlMappingNode> Load(string file)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(Path.Combine(Folder, file));
        stream.Load(reader);
        return stream.Documents.Select(d => (YamlMappingNode)d.RootNode).ToList();
    }

    private static YamlMappingNode Deployment() => Documents().Single(d => Kind(d) == "Deployment");

    private static YamlMappingNode Worker(YamlMappingNode deployment) =>
        ((YamlSequenceNode)deployment.Path("spec", "template", "spec", "containers")).Children.Cast<YamlMappingNode>().Single(c => Scalar(c.Path("name")) == "worker");

    private static JsonElement AppSettings()
    {
        var map = Documents().Single(d => Kind(d) == "ConfigMap");
        return JsonDocument.Parse(Scalar(map.Path("data", "appsettings.Production.json"))).RootElement.Clone();
    }

    private static TimeSpan ShutdownTimeout() =>
        TimeSpan.Parse(AppSettings().GetProperty("HostOptions").GetProperty("ShutdownTimeout").GetString()!, CultureInfo.InvariantCulture);

    private static int PreStopSeconds(YamlMappingNode worker)
    {
        var preStop = worker.PathMap("lifecycle", "preStop");
        if (preStop.Children.ContainsKey("sleep"))
        {
            return Int(preStop.Path("sleep", "seconds"));
        }

        var command = ((YamlSequenceNode)preStop.Path("exec", "command")).Children.Select(Scalar).ToList();
        Assert.That(command[0], Is.EqualTo("sleep"));
        return int.Parse(command[1], CultureInfo.InvariantCulture);
    }

    private static string Kind(YamlMappingNode document) => Scalar(document.Path("kind"));

    private static string Scalar(YamlNode node) => ((YamlScalarNode)node).Value ?? "";

    private static int Int(YamlNode node) => int.Parse(Scalar(node), CultureInfo.InvariantCulture);
}

internal static class YamlPaths
{
    /// <summary>The node at <paramref name="path"/> under a mapping; a missing step fails the test with the path.</summary>
    public static YamlNode Path(this YamlNode node, params string[] path) => At(node, path);

    public static YamlMappingNode PathMap(this YamlNode node, params string[] path) => (YamlMappingNode)At(node, path);

    private static YamlNode At(YamlNode node, string[] path)
    {
        foreach (var step in path)
        {
            var map = node as YamlMappingNode ?? throw new AssertionException($"'{step}': not a mapping");
            if (!map.Children.TryGetValue(new YamlScalarNode(step), out var child))
            {
                throw new AssertionException($"missing '{string.Join('.', path)}' (at '{step}')");
            }

            node = child;
        }

        return node;
    }
}
