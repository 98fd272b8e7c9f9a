using System.Text.RegularExpressions;

namespace RecoverableStreams.Hosting.Connection;

/// <summary>Hides passwords in a StackExchange.Redis configuration string or a redis:// URI before it is logged or thrown.</summary>
internal static partial class ConnectionStringRedactor
{
    private const string Mask = "*****";

    public static string Redact(string? configuration)
    {
        if (string.IsNullOrEmpty(configuration))
        {
            return "";
        }

        var redacted = PasswordOption().Replace(configuration, m => m.Groups[1].Value + "=" + Mask);
        return UriCredentials().Replace(redacted, m => m.Groups[1].Value + Mask + "@");
    }

    // password=..., pwd=... up to the next comma (StackExchange.Redis' separator).
    [GeneratedRegex(@"\b(password|pwd)\s*=[^,]*", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex PasswordOption();

    // scheme://user:secret@host -> scheme://user:*****@host (and scheme://secret@host).
    [GeneratedRegex(@"(\w+://(?:[^:@/,]*:)?)[^@/,]+@", RegexOptions.CultureInvariant)]
    private static partial Regex UriCredentials();
}
