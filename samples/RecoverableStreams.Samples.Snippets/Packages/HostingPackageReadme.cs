using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RecoverableStreams.Hosting;

namespace RecoverableStreams.Samples.Snippets.Packages;

/// <summary>The C# of src/RecoverableStreams.Hosting/README.md (the hosting package's page), compiled.</summary>
public static class HostingPackageReadme
{
    public static async Task MainAsync(string[] args)
    {
        // snippet: package-hosting-program
        var builder = Host.CreateApplicationBuilder(args);
        builder.Services.AddRecoverableRedisStreams()   // reads ConnectionStrings:Redis and the "RecoverableStreams" section
            .AddHandler<OrderStreamHandler>();
        await builder.Build().RunAsync();
        // end snippet
    }
}

// snippet: package-hosting-handler
public sealed class OrderStreamHandler : IStreamWorkHandler
{
    public async Task HandleAsync(StreamWorkContext context, CancellationToken cancellationToken)
    {
        // Resumes after the last checkpoint; cancelled when this worker stops owning the stream.
        await foreach (var entry in context.ReadEntriesAsync(cancellationToken: cancellationToken))
        {
            if (!entry["end"].IsNull)
            {
                return;   // returning completes the stream; an exception retries it, then dead-letters it
            }

            // ... process entry.Values; pass context.FencingToken to downstream writes ...
            await context.CheckpointAsync(entry.Id!, cancellationToken: cancellationToken);
        }
    }
}
// end snippet
