using Spectre.Console;

namespace RecoverableStreams.Cli;

/// <summary>
/// What the tool reads and writes besides Redis, as parameters so tests run it in-process: tables go to
/// <paramref name="Output"/>, messages to <paramref name="Error"/>, settings come from <paramref name="Environment"/>;
/// <paramref name="Input"/> is the operator's terminal (<see langword="null"/> when there is none: no questions are
/// asked then), <paramref name="ReadSecret"/> reads a password without echo.
/// </summary>
internal sealed record CliConsole(
    IAnsiConsole Output,
    TextWriter Error,
    Func<string, string?> Environment,
    TextReader? Input,
    Func<string, string?> ReadSecret)
{
    /// <summary>The process's own console: a terminal only when standard input is not redirected.</summary>
    public static CliConsole System() => new(
        AnsiConsole.Console,
        Console.Error,
        global::System.Environment.GetEnvironmentVariable,
        Console.IsInputRedirected ? null : Console.In,
        prompt => AnsiConsole.Prompt(new TextPrompt<string>(prompt).Secret()));

    /// <summary>Asks a yes/no question on the terminal; no terminal, or anything but y/yes, is no.</summary>
    public bool Confirm(string question)
    {
        if (Input is null)
        {
            return false;
        }

        Error.Write(question + " [y/N] ");
        var answer = Input.ReadLine()?.Trim();
        return string.Equals(answer, "y", StringComparison.OrdinalIgnoreCase) || string.Equals(answer, "yes", StringComparison.OrdinalIgnoreCase);
    }
}
