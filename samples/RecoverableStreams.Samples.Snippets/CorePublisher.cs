using RecoverableStreams;
using StackExchange.Redis;

namespace RecoverableStreams.Samples.Snippets;

public static class CorePublisher
{
    public static async Task RunAsync()
    {
        // snippet: core-publisher
        var redis = await ConnectionMultiplexer.ConnectAsync("localhost:6379");
        var publisher = new StreamPublisher(redis, new RecoverableStreamOptions { ServiceName = "orders" });

        await redis.GetDatabase().StreamAddAsync("order:42", "v", 17);
        var idInLbs = await publisher.AddStreamAsync("order:42", new Dictionary<string, object?> { ["customer"] = "c-7" });
        // end snippet
        Console.WriteLine(idInLbs);
    }
}
