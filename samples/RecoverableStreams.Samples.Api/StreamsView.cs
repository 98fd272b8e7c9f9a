using RecoverableStreams.Administration;

namespace RecoverableStreams.Samples.Api;

/// <summary>The answer of <c>GET /streams</c>: the operator API's status (consumers, LBS counts) and owners.</summary>
public sealed record StreamsView(ServiceStatus Status, IReadOnlyList<StreamOwner> Owners);
