namespace RecoverableStreams.Hosting.Routing;

/// <summary>
/// One <c>AddHandler</c> call: a glob (or <see langword="null"/> for the default route), the handler type, and the key of
/// the stream service it belongs to (empty for the default service).
/// </summary>
internal sealed record HandlerRegistration(string? Pattern, Type HandlerType, string ServiceKey = "");
