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
return await new DemoRun(options, Console.Out).RunAsync();
