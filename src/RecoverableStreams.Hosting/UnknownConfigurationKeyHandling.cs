namespace RecoverableStreams.Hosting;

/// <summary>What the worker does with a key of its configuration section that matches no option.</summary>
public enum UnknownConfigurationKeyHandling
{
    /// <summary>
    /// Logs a warning naming the key and runs (the default): a key added for a newer version in a shared ConfigMap must
    /// not stop an older version's pods, for example on a rollback.
    /// </summary>
    Warn = 0,

    /// <summary>Stops the host at start with a message naming the key: catches typos where every pod runs one version.</summary>
    Error = 1,

    /// <summary>Says nothing.</summary>
    Ignore = 2,
}
