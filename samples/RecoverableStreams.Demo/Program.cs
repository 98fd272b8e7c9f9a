using System.Runtime.InteropServices;
using RecoverableStreams.Demo;

DemoOptions options;
try
{
    options = DemoOptions.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    Console.Error.WriteLine(DemoOptions.Usage);
    return 2;
}

if (options.Help)
{
    Console.WriteLine(DemoOptions.Usage);
    return 0;
}

Console.WriteLine($"RecoverableStreams demo: {options.Streams} streams, {options.Workers} worker processes; one is killed, one is stopped gracefully.");
// Ctrl+C or SIGTERM: stop the run, but still stop the workers and Redis this demo started, and report.
using var interrupt = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    interrupt.Cancel();
};
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    interrupt.Cancel();
});
return await new DemoRun(options, Console.Out).RunAsync(interrupt.Token);
