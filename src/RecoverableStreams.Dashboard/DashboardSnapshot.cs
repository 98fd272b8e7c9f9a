using RecoverableStreams.Administration;

namespace RecoverableStreams.Dashboard;

/// <summary>
/// The JSON the dashboard page fetches: the operator API's answers flattened for a browser (times as Unix
/// milliseconds, ages and remaining times as milliseconds), with the lists capped so a large fleet stays one small
/// response.
/// </summary>
internal sealed record DashboardSnapshot(
    string Service,
    string LbsStreamKey,
    string ConsumerGroup,
    long ServerTimeMs,
    long EntriesInLbs,
    long? Lag,
    long Pending,
    long Owned,
    long DeadLetters,
    int Partitions,
    IReadOnlyList<DashboardConsumer> Consumers,
    IReadOnlyList<DashboardOwner> Owners,
    IReadOnlyList<DashboardDeadLetter> DeadLetterPage)
{
    public const int MaxDeadLetters = 50;

    public static async Task<DashboardSnapshot> ReadAsync(RecoverableStreamsAdmin admin, int maxOwners, CancellationToken cancellationToken)
    {
        var status = admin.GetStatusAsync(cancellationToken);
        var owners = admin.GetOwnerPageAsync(maxOwners, cancellationToken);
        var dead = admin.GetDeadLettersAsync(count: MaxDeadLetters, cancellationToken: cancellationToken);
        await Task.WhenAll(status, owners, dead).ConfigureAwait(false);

        var s = status.Result;
        var now = s.ServerTime;
        return new DashboardSnapshot(
            s.ServiceName,
            s.LbsStreamKey,
            s.ConsumerGroup,
            now.ToUnixTimeMilliseconds(),
            s.EntriesInLbs,
            s.Lag,
            s.Pending,
            s.Owned,
            s.DeadLetters,
            s.Partitions,
            s.Consumers.Select(c => new DashboardConsumer(c.ConsumerId, c.SessionId, c.LastHeartbeat.ToUnixTimeMilliseconds(), (long)c.HeartbeatAge.TotalMilliseconds, (long)(c.SessionDeadline - now).TotalMilliseconds, c.IsLive, c.OwnedStreams)).ToArray(),
            owners.Result.Items.Select(o => new DashboardOwner(o.DataStreamName, o.IdInLbs, o.ConsumerId, o.SessionId, o.FencingToken, (long)(o.Deadline - now).TotalMilliseconds)).ToArray(),
            dead.Result.Items.Select(d => new DashboardDeadLetter(d.Id, d.DataStreamName, d.IdInLbs, d.Reason, d.ConsumerId, d.Attempts, d.Time.ToUnixTimeMilliseconds())).ToArray());
    }
}

internal sealed record DashboardConsumer(string ConsumerId, string SessionId, long LastHeartbeatMs, long HeartbeatAgeMs, long SessionDeadlineInMs, bool IsLive, long OwnedStreams);

internal sealed record DashboardOwner(string? DataStreamName, string IdInLbs, string ConsumerId, string SessionId, long FencingToken, long DeadlineInMs);

internal sealed record DashboardDeadLetter(string Id, string? DataStreamName, string IdInLbs, string Reason, string ConsumerId, long Attempts, long TimeMs);
