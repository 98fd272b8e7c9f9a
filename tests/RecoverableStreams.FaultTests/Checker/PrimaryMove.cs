using System.Globalization;
using System.Text.RegularExpressions;

namespace RecoverableStreams.FaultTests.Checker;

/// <summary>How the nemesis made the sentinels fail over.</summary>
internal enum FailoverKind
{
    /// <summary><c>SENTINEL FAILOVER</c>: the replica is promoted, the old primary becomes its replica.</summary>
    Planned,

    /// <summary>SIGKILL of the primary; once the replica is promoted, the old one starts again, without data, as its replica.</summary>
    KillPrimary,
}

/// <summary>
/// The proof that a failover bit: the primary's port before and after, as the sentinels named it (and the new primary
/// said role master). It is written in the nemesis history as the detail of the failover's <c>Ok</c> event and read
/// back from there, so a test asserts on what the history records, not on a counter kept beside it.
/// </summary>
internal sealed partial record PrimaryMove(FailoverKind Kind, int From, int To)
{
    public bool Moved => From != To;

    /// <summary>The history detail: <c>Planned 127.0.0.1:6380 -> 127.0.0.1:6381</c>.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Kind} 127.0.0.1:{From} -> 127.0.0.1:{To}");

    /// <summary>The move recorded in a nemesis <see cref="HistoryOp.Failover"/> <c>Ok</c> event, or null for any other event.</summary>
    public static PrimaryMove? Read(HistoryEvent e)
    {
        if (e is not { Process: "nemesis", Op: HistoryOp.Failover, Phase: HistoryPhase.Ok, Detail: { } detail })
        {
            return null;
        }

        var match = Format().Match(detail);
        return match.Success
            ? new PrimaryMove(
                Enum.Parse<FailoverKind>(match.Groups["kind"].Value),
                int.Parse(match.Groups["from"].Value, CultureInfo.InvariantCulture),
                int.Parse(match.Groups["to"].Value, CultureInfo.InvariantCulture))
            : null;
    }

    [GeneratedRegex(@"^(?<kind>\w+) 127\.0\.0\.1:(?<from>\d+) -> 127\.0\.0\.1:(?<to>\d+)$")]
    private static partial Regex Format();
}
