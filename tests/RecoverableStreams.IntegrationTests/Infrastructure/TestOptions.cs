namespace RecoverableStreams.IntegrationTests.Infrastructure;

/// <summary>Options for one test: its own service name, so tests can share one server and run in parallel.</summary>
public static class TestOptions
{
    public static RecoverableStreamOptions For(string? service = null, string? consumerId = null, TimeSpan? lease = null, bool autoClaim = false, int maxConcurrentStreams = 100) => new()
    {
        ServiceName = service ?? NewServiceName(),
        ConsumerId = consumerId ?? "c-" + Guid.NewGuid().ToString("N")[..8],
        LeaseDuration = lease ?? TimeSpan.FromSeconds(2),
        SweepInterval = TimeSpan.FromSeconds(1),
        PollInterval = TimeSpan.FromMilliseconds(500),
        AutoClaim = autoClaim,
        MaxConcurrentStreams = maxConcurrentStreams,
    };

    public static string NewServiceName() => "svc-" + Guid.NewGuid().ToString("N")[..12];
}
