using RecoverableStreams.Hosting;
using RecoverableStreams.Testing;

namespace RecoverableStreams.Samples.Snippets;

/// <summary>The README's handler test, compiled; tests/RecoverableStreams.Tests/Testing runs the same with assertions.</summary>
public static class HandlerTest
{
    public static async Task<bool> OrderHandlerSumsAndCheckpointsAsync()
    {
        // snippet: handler-test
        using var work = new FakeStreamWork("order:42");            // no Redis: entries, checkpoints and ownership in memory
        work.AddEntry(("amount", 5));
        work.AddEntry(("amount", 7));
        work.AddEntry(("end", 1));
        var totals = new OrderTotals();

        var outcome = await work.RunAsync(new OrderHandler(totals));

        // outcome is StreamRunOutcome.Completed; work.Checkpoints[^1].Position is "2-0"; totals.Of("order:42") is 12
        // end snippet
        return outcome == StreamRunOutcome.Completed && work.Checkpoints[^1].Position == "2-0" && totals.Of("order:42") == 12;
    }
}
