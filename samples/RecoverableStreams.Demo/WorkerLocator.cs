namespace RecoverableStreams.Demo;

/// <summary>
/// Finds the built worker: <c>--worker</c> when given, else the worker project's output for the same configuration
/// and target framework as this demo (<c>samples/RecoverableStreams.Samples.Worker/bin/&lt;Configuration&gt;/&lt;tfm&gt;/</c>).
/// </summary>
internal static class WorkerLocator
{
    public const string WorkerProject = "RecoverableStreams.Samples.Worker";

    public static string Find(string? given)
    {
        if (!string.IsNullOrWhiteSpace(given))
        {
            return File.Exists(given) ? Path.GetFullPath(given) : throw new DemoFailureException($"The worker dll {given} does not exist.");
        }

        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var beside = Path.Combine(here.FullName, WorkerProject + ".dll");
        if (File.Exists(beside))
        {
            return beside;
        }

        // bin/<Configuration>/<tfm>/ of the demo project, next to the worker project under samples/.
        var tfm = here.Name;
        var configuration = here.Parent?.Name;
        var samples = here.Parent?.Parent?.Parent?.Parent;
        if (configuration is not null && samples is not null)
        {
            var candidate = Path.Combine(samples.FullName, WorkerProject, "bin", configuration, tfm, WorkerProject + ".dll");
            if (File.Exists(candidate))
            {
                return candidate;
            }

            throw new DemoFailureException($"The worker is not built: {candidate} is missing. Build the solution (dotnet build -c {configuration}) or pass --worker PATH.");
        }

        throw new DemoFailureException("Cannot find the worker next to this build; pass --worker PATH.");
    }
}
