using RecoverableStreams.FaultTests.Checker;

namespace RecoverableStreams.FaultTests;

/// <summary>
/// The checker is a pure function over a history: each rule is shown to fire on a fabricated history that breaks it
/// (and only that rule), and a clean hand-over passes. Times are in milliseconds on the shared clock.
/// </summary>
public sealed class HistoryCheckerTests
{
    private const string S = "svc:s0001";
    private static readonly HashSet<string> NothingLeft = [];

    [Test]
    public void A_clean_handover_after_a_crash_has_no_violation()
    {
        var history = CleanHandover();
        Assert.That(HistoryChecker.Check(history, NothingLeft), Is.Empty);
    }

    [Test]
    public void A_handler_that_still_sees_itself_owner_after_a_peers_grant_is_an_overlap()
    {
        List<HistoryEvent> history =
        [
            Announce(0),
            E(10, "w0.1", 1, HistoryOp.Own, HistoryPhase.Info, 100),
            E(20, "w1.1", 1, HistoryOp.Own, HistoryPhase.Info, 200),
            E(30, "w0.1", 2, HistoryOp.Checkpoint, HistoryPhase.Invoke, 100),
            E(31, "w0.1", 2, HistoryOp.Checkpoint, HistoryPhase.Fail, 100),
            E(40, "w1.1", 2, HistoryOp.Complete, HistoryPhase.Invoke, 200),
            E(41, "w1.1", 2, HistoryOp.Complete, HistoryPhase.Ok, 200),
        ];
        Assert.That(Kinds(history), Is.EqualTo(new[] { ViolationKind.OverlappingOwners }));
    }

    [Test]
    public void A_later_grant_with_a_lower_or_equal_token_breaks_the_token_order()
    {
        List<HistoryEvent> history =
        [
            Announce(0),
            E(10, "w0.1", 1, HistoryOp.Own, HistoryPhase.Info, 300),
            E(20, "w0.1", 2, HistoryOp.Release, HistoryPhase.Invoke, 300),
            E(21, "w0.1", 2, HistoryOp.Release, HistoryPhase.Ok, 300),
            E(30, "w1.1", 1, HistoryOp.Own, HistoryPhase.Info, 300),
            E(40, "w1.1", 2, HistoryOp.Complete, HistoryPhase.Invoke, 300),
            E(41, "w1.1", 2, HistoryOp.Complete, HistoryPhase.Ok, 300),
        ];
        Assert.That(Kinds(history), Is.EqualTo(new[] { ViolationKind.TokenNotIncreasing }));
    }

    [Test]
    public void A_write_accepted_with_an_old_token_after_a_newer_grant_is_stale()
    {
        // w0.1 saw itself owner last at 10 (no overlap by observation), but its checkpoint invoked at 30 without a
        // fresh ownership read (an invoke is an observation; this one is written as the write's own ok only).
        List<HistoryEvent> history =
        [
            Announce(0),
            E(10, "w0.1", 1, HistoryOp.Own, HistoryPhase.Info, 100),
            E(20, "w1.1", 1, HistoryOp.Own, HistoryPhase.Info, 200),
            E(35, "w0.1", 2, HistoryOp.Checkpoint, HistoryPhase.Ok, 100),
            E(40, "w1.1", 2, HistoryOp.Complete, HistoryPhase.Invoke, 200),
            E(41, "w1.1", 2, HistoryOp.Complete, HistoryPhase.Ok, 200),
        ];
        Assert.That(Kinds(history), Is.EqualTo(new[] { ViolationKind.StaleWriteAccepted }));
    }

    [Test]
    public void Two_confirmed_ends_of_one_stream_are_a_double_end()
    {
        List<HistoryEvent> history =
        [
            Announce(0),
            E(10, "w0.1", 1, HistoryOp.Own, HistoryPhase.Info, 100),
            E(20, "w0.1", 2, HistoryOp.Complete, HistoryPhase.Invoke, 100),
            E(21, "w0.1", 2, HistoryOp.Complete, HistoryPhase.Ok, 100),
            E(22, "w0.1", 3, HistoryOp.DeadLetter, HistoryPhase.Invoke, 100),
            E(23, "w0.1", 3, HistoryOp.DeadLetter, HistoryPhase.Ok, 100),
        ];
        var violations = HistoryChecker.Check(history, NothingLeft);
        Assert.That(violations.Select(v => v.Kind), Is.EqualTo(new[] { ViolationKind.EndedTwice }));
        Assert.That(violations[0].Message, Does.Contain("ended 2 times"));
    }

    [Test]
    public void A_grant_after_a_confirmed_end_is_a_second_life()
    {
        List<HistoryEvent> history =
        [
            Announce(0),
            E(10, "w0.1", 1, HistoryOp.Own, HistoryPhase.Info, 100),
            E(20, "w0.1", 2, HistoryOp.Complete, HistoryPhase.Invoke, 100),
            E(21, "w0.1", 2, HistoryOp.Complete, HistoryPhase.Ok, 100),
            E(30, "w1.1", 1, HistoryOp.Own, HistoryPhase.Info, 200),
            E(40, "w1.1", 2, HistoryOp.Release, HistoryPhase.Invoke, 200),
            E(41, "w1.1", 2, HistoryOp.Release, HistoryPhase.Ok, 200),
        ];
        var violations = HistoryChecker.Check(history, NothingLeft);
        Assert.That(violations.Select(v => v.Kind), Is.EqualTo(new[] { ViolationKind.EndedTwice }));
        Assert.That(violations[0].Message, Does.Contain("after Complete by w0.1"));
    }

    [Test]
    public void A_stream_left_in_the_lbs_or_never_ended_is_lost()
    {
        List<HistoryEvent> neverGranted = [Announce(0)];
        Assert.That(Kinds(neverGranted, [S]), Is.EqualTo(new[] { ViolationKind.StreamLost }));

        // Gone from the LBS, but nobody recorded an end (nor left one unknown): lost from the history's point of view.
        List<HistoryEvent> noEnd =
        [
            Announce(0),
            E(10, "w0.1", 1, HistoryOp.Own, HistoryPhase.Info, 100),
            E(20, "w0.1", 2, HistoryOp.Release, HistoryPhase.Invoke, 100),
            E(21, "w0.1", 2, HistoryOp.Release, HistoryPhase.Ok, 100),
        ];
        Assert.That(Kinds(noEnd), Is.EqualTo(new[] { ViolationKind.StreamLost }));
    }

    [Test]
    public void A_complete_cut_short_by_a_crash_is_an_end_when_redis_no_longer_holds_the_stream()
    {
        List<HistoryEvent> history =
        [
            Announce(0),
            E(10, "w0.1", 1, HistoryOp.Own, HistoryPhase.Info, 100),
            E(20, "w0.1", 2, HistoryOp.Complete, HistoryPhase.Invoke, 100),
            E(21, "nemesis", 9, HistoryOp.Crash, HistoryPhase.Info, 0, null),
        ];
        Assert.That(HistoryChecker.Check(history, NothingLeft), Is.Empty);
        Assert.That(Kinds(history, [S]), Is.EqualTo(new[] { ViolationKind.StreamLost }));
    }

    [Test]
    public void A_violation_names_the_processes_and_carries_the_history_around_it_with_the_faults()
    {
        List<HistoryEvent> history =
        [
            Announce(0),
            E(10, "w0.1", 1, HistoryOp.Own, HistoryPhase.Info, 100),
            E(15, "nemesis", 5, HistoryOp.Freeze, HistoryPhase.Info, 0, null, "w0.1 3000 ms"),
            E(20, "w1.1", 1, HistoryOp.Own, HistoryPhase.Info, 200),
            E(30, "w0.1", 2, HistoryOp.Checkpoint, HistoryPhase.Invoke, 100),
        ];
        var violation = HistoryChecker.Check(history, NothingLeft).Single(v => v.Kind == ViolationKind.OverlappingOwners);
        Assert.That(violation.Message, Does.Contain("w1.1 (token 200)").And.Contain("w0.1 (token 100)"));
        Assert.That(violation.Excerpt.Select(e => e.Op), Does.Contain(HistoryOp.Freeze));
        Assert.That(violation.ToString(), Does.Contain("Checkpoint Invoke"));
    }

    [Test]
    public void Histories_round_trip_through_the_json_lines_file()
    {
        var path = Path.GetTempFileName();
        try
        {
            using (var log = new HistoryLog(path, "w0.1"))
            {
                log.Write(123, log.NextId(), HistoryOp.Checkpoint, HistoryPhase.Unknown, S, 42, "timeout");
            }

            File.AppendAllText(path, "{\"Time\":1,\"Proc"); // a torn last line, as after SIGKILL
            var read = HistoryLog.Read(path).ToList();
            Assert.That(read, Is.EqualTo(new[] { new HistoryEvent(123, "w0.1", 1, HistoryOp.Checkpoint, HistoryPhase.Unknown, S, 42, "timeout") }));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void A_failover_reads_back_from_the_nemesis_history_as_the_primarys_move_and_nothing_else_does()
    {
        var path = Path.GetTempFileName();
        try
        {
            using (var log = new HistoryLog(path, "nemesis"))
            {
                log.Write(10, 1, HistoryOp.Failover, HistoryPhase.Invoke, detail: "KillPrimary primary 127.0.0.1:6380");
                log.Write(20, 1, HistoryOp.Failover, HistoryPhase.Ok, detail: new PrimaryMove(FailoverKind.KillPrimary, 6380, 6381).ToString());
                log.Write(30, 2, HistoryOp.Failover, HistoryPhase.Fail, detail: new PrimaryMove(FailoverKind.Planned, 6381, 6381).ToString());
            }

            // A consumer's event with the same words is not the nemesis's record.
            var forged = E(40, "w0.1", 9, HistoryOp.Failover, HistoryPhase.Ok, 0, null, "Planned 127.0.0.1:1 -> 127.0.0.1:2");
            var moves = HistoryLog.Read(path).Append(forged).Select(PrimaryMove.Read).OfType<PrimaryMove>().ToList();
            Assert.That(moves, Is.EqualTo(new[] { new PrimaryMove(FailoverKind.KillPrimary, 6380, 6381) }));
            Assert.That(moves[0].Moved, Is.True);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static List<HistoryEvent> CleanHandover() =>
    [
        Announce(0),
        E(10, "w0.1", 1, HistoryOp.Own, HistoryPhase.Info, 100),
        E(20, "w0.1", 2, HistoryOp.Checkpoint, HistoryPhase.Invoke, 100),
        E(21, "w0.1", 2, HistoryOp.Checkpoint, HistoryPhase.Ok, 100),
        E(25, "w0.1", 3, HistoryOp.Checkpoint, HistoryPhase.Invoke, 100),
        E(26, "nemesis", 7, HistoryOp.Crash, HistoryPhase.Info, 0, null, "w0.1"),
        E(40, "w1.1", 1, HistoryOp.Own, HistoryPhase.Info, 200),
        E(50, "w1.1", 2, HistoryOp.Checkpoint, HistoryPhase.Invoke, 200),
        E(51, "w1.1", 2, HistoryOp.Checkpoint, HistoryPhase.Ok, 200),
        E(60, "w1.1", 3, HistoryOp.Complete, HistoryPhase.Invoke, 200),
        E(61, "w1.1", 3, HistoryOp.Complete, HistoryPhase.Ok, 200),
    ];

    private static ViolationKind[] Kinds(List<HistoryEvent> history, HashSet<string>? left = null) =>
        [.. HistoryChecker.Check(history, left ?? NothingLeft).Select(v => v.Kind)];

    private static HistoryEvent Announce(long ms) => E(ms, "nemesis", 1, HistoryOp.Announce, HistoryPhase.Ok, 0);

    private static HistoryEvent E(long ms, string process, long id, HistoryOp op, HistoryPhase phase, long token, string? stream = S, string? detail = null) =>
        new(ms * 1_000_000, process, id, op, phase, stream, token, detail);
}
