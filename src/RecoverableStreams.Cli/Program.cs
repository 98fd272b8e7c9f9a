using RecoverableStreams.Cli;
using Spectre.Console;

return await CliApp.RunAsync(args, AnsiConsole.Console, Console.Error, Environment.GetEnvironmentVariable).ConfigureAwait(false);
