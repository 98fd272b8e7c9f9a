using Microsoft.Extensions.Hosting;

namespace RecoverableStreams.Samples.Snippets;

public static class HostedPublisher
{
    public static void Register(IHostApplicationBuilder builder)
    {
        // snippet: producer-only
        // A producer-only app: no worker; ServiceName and Database must be the consumers' (same "RecoverableStreams" section).
        builder.AddRecoverableStreamPublisher("Redis");
        // end snippet
    }
}
