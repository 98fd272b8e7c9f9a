using System.Collections.Concurrent;

namespace RecoverableStreams.Hosting.Processing;

/// <summary>The runtime of every service of the host, by service key.</summary>
internal sealed class RecoverableStreamsRuntimes
{
    private readonly ConcurrentDictionary<string, RecoverableStreamsRuntime> _byKey = new(StringComparer.Ordinal);

    public RecoverableStreamsRuntime Get(string key) => _byKey.GetOrAdd(key, static k => new RecoverableStreamsRuntime(k));

    public ICollection<RecoverableStreamsRuntime> All => _byKey.Values;
}
