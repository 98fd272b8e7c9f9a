using StackExchange.Redis;

namespace RecoverableStreams.Samples.Snippets.Packages;

/// <summary>The C# of src/RecoverableStreams/README.md (the core package's page), compiled.</summary>
public static class CorePackageReadme
{
    public static async Task ConsumeAsync(CancellationToken stoppingToken)
    {
        // snippet: package-core-consumer
        var redis = await ConnectionMultiplexer.ConnectAsync("localhost:6379,allowAdmin=true");
        await using var client = new RecoverableStreamClient(redis, new RecoverableStreamOptions { ServiceName = "orders", AutoClaim = true });

        var notifications = await client.InitAsync(stoppingToken);
        await foreach (var notification in notifications.ReadAllAsync(stoppingToken))
        {
            if (notification is not { Type: StreamNotificationType.StreamAdded, Lease: { } lease })
            {
                continue;
            }

            try
            {
                await foreach (var entry in lease.ReadEntriesAsync(cancellationToken: lease.OwnershipLost))
                {
                    // ... process entry.Values; pass lease.FencingToken to downstream writes ...
                    await lease.CheckpointAsync(entry.Id!, cancellationToken: stoppingToken);
                    if (!entry["end"].IsNull)
                    {
                        await client.CompleteStreamAsync(lease.Info, stoppingToken);
                        break;
                    }
                }
            }
            catch (OperationCanceledException) when (lease.OwnershipLost.IsCancellationRequested)
            {
                // Another consumer owns the stream now and resumes after the last checkpoint.
            }
        }
        // end snippet
    }

    public static async Task PublishAsync()
    {
        // snippet: package-core-publisher
        var redis = await ConnectionMultiplexer.ConnectAsync("localhost:6379");
        var publisher = new StreamPublisher(redis, new RecoverableStreamOptions { ServiceName = "orders" });

        await redis.GetDatabase().StreamAddAsync("order:42", "amount", 17);
        await redis.GetDatabase().StreamAddAsync("order:42", "end", 1);
        await publisher.AddStreamAsync("order:42");
        // end snippet
    }
}
