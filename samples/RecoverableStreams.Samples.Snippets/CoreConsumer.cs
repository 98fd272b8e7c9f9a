using RecoverableStreams;
using StackExchange.Redis;

namespace RecoverableStreams.Samples.Snippets;

public static class CoreConsumer
{
    public static async Task RunAsync(CancellationToken stoppingToken)
    {
        // snippet: core-consumer
        var redis = await ConnectionMultiplexer.ConnectAsync("localhost:6379,allowAdmin=true");
        var options = new RecoverableStreamOptions { ServiceName = "orders", AutoClaim = true };
        await using var client = new RecoverableStreamClient(redis, options);

        var notifications = await client.InitAsync(stoppingToken);
        await foreach (var notification in notifications.ReadAllAsync(stoppingToken))
        {
            if (notification.Type != StreamNotificationType.StreamAdded)
            {
                continue; // StreamDisowned: the lease's OwnershipLost token has fired; stop working on it.
            }

            var lease = notification.Lease!;
            try
            {
                await foreach (var entry in lease.ReadEntriesAsync(cancellationToken: lease.OwnershipLost))
                {
                    // ... process entry.Values, pass lease.FencingToken to downstream writes ...
                    await lease.CheckpointAsync(entry.Id!, cancellationToken: stoppingToken);
                    if (!entry["end"].IsNull)
                    {
                        break;
                    }
                }

                await client.CompleteStreamAsync(lease.Info, stoppingToken);
            }
            catch (Exception ex) when ((ex is OperationCanceledException or StreamOwnershipLostException) && !lease.IsOwned)
            {
                // Ownership ended (expired or taken over): a peer resumes after the last checkpoint. Keep reading notifications.
            }
        }
        // end snippet
    }
}
