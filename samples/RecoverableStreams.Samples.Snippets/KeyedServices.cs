using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace RecoverableStreams.Samples.Snippets;

public static class KeyedServices
{
    public static void Register(IHostApplicationBuilder builder)
    {
        // snippet: keyed-services
        builder.AddKeyedRecoverableRedisStreams("orders", "Redis")     // section RecoverableStreams:orders
            .AddHandler<OrderHandler>();
        builder.AddKeyedRecoverableRedisStreams("refunds", "Redis")    // section RecoverableStreams:refunds
            .AddHandler<RefundHandler>()
            .ConfigureHosting(h => h.HandlerRetry.MaxDelay = TimeSpan.FromSeconds(30));
        builder.Services.AddHealthChecks()
            .AddKeyedRecoverableStreamsHealthCheck("orders")            // "recoverable-streams-orders"
            .AddKeyedRecoverableStreamsHealthCheck("refunds");
        // end snippet
    }
}
