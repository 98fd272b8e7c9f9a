namespace RecoverableStreams.Hosting.Routing;

/// <summary>
/// Chooses the handler for a data stream: among the patterns that match, the most specific wins (fewest wildcards,
/// then most literal characters, then the first registered); with no match, the default route; else none.
/// </summary>
internal sealed class HandlerRouter
{
    private readonly (GlobPattern Pattern, Type HandlerType)[] _routes;

    public HandlerRouter(IEnumerable<HandlerRegistration> registrations)
    {
        var all = registrations.ToList();
        Count = all.Count;
        DefaultHandler = all.FirstOrDefault(r => r.Pattern is null)?.HandlerType;
        _routes = all
            .Where(r => r.Pattern is not null)
            .Select(r => (Pattern: new GlobPattern(r.Pattern!), r.HandlerType))
            .OrderBy(r => r.Pattern.Wildcards)
            .ThenByDescending(r => r.Pattern.LiteralLength)
            .ToArray();
    }

    /// <summary>How many handlers are registered (patterns and default).</summary>
    public int Count { get; }

    public Type? DefaultHandler { get; }

    /// <summary>What this worker handles, as globs: each pattern, and <c>*</c> for a default handler.</summary>
    public IReadOnlyList<string> Patterns => [.. _routes.Select(r => r.Pattern.Pattern), .. DefaultHandler is null ? Array.Empty<string>() : ["*"]];

    /// <summary>The handler type for the stream, or <see langword="null"/> when nothing matches and there is no default.</summary>
    public Type? Find(string dataStreamName)
    {
        foreach (var (pattern, handlerType) in _routes)
        {
            if (pattern.IsMatch(dataStreamName))
            {
                return handlerType;
            }
        }

        return DefaultHandler;
    }
}
