using System.Globalization;
using System.Text;

namespace RecoverableStreams.Cli;

/// <summary>
/// Makes names from Redis safe to print on a terminal: control characters (C0, DEL, C1, which can move the cursor,
/// rewrite earlier lines or set the window title) and bidirectional overrides (which can reorder what is shown) are
/// written as <c>\xNN</c> or <c>\u{NNNN}</c>; a backslash becomes <c>\\</c> so the escaped form is unambiguous.
/// </summary>
internal static class TerminalText
{
    public static string Escape(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return value ?? "";
        }

        if (!value.Any(NeedsEscape))
        {
            return value;
        }

        var builder = new StringBuilder(value.Length + 8);
        foreach (var c in value)
        {
            if (c == '\\')
            {
                builder.Append(@"\\");
            }
            else if (char.IsControl(c))
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
            }
            else if (IsBidiControl(c))
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\u{{{(int)c:x4}}}");
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }

    private static bool NeedsEscape(char c) => c == '\\' || char.IsControl(c) || IsBidiControl(c);

    private static bool IsBidiControl(char c) => c is (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069') or '\u200E' or '\u200F' or '\u061C';
}
