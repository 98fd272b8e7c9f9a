namespace RecoverableStreams.Hosting.Routing;

/// <summary>One <c>AddHandler</c> call: a glob (or <see langword="null"/> for the default route) and the handler type.</summary>
internal sealed record HandlerRegistration(string? Pattern, Type HandlerType);
