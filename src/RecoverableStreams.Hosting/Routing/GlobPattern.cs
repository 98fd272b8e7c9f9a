namespace RecoverableStreams.Hosting.Routing;

/// <summary>A glob on data stream names: <c>*</c> is any run of characters, <c>?</c> any one; everything else is literal (ordinal).</summary>
internal sealed class GlobPattern
{
    public GlobPattern(string pattern)
    {
        Pattern = pattern;
        Wildcards = pattern.Count(c => c is '*' or '?');
        LiteralLength = pattern.Length - Wildcards;
    }

    public string Pattern { get; }

    public int Wildcards { get; }

    public int LiteralLength { get; }

    public bool IsMatch(string text) => IsMatch(Pattern.AsSpan(), text.AsSpan());

    /// <summary>Iterative matching with backtracking to the last <c>*</c>: linear in practice, no regex, no recursion.</summary>
    private static bool IsMatch(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
    {
        int p = 0, t = 0, starP = -1, starT = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || (pattern[p] != '*' && pattern[p] == text[t])))
            {
                p++;
                t++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                starP = p++;
                starT = t;
            }
            else if (starP >= 0)
            {
                p = starP + 1;
                t = ++starT;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}
