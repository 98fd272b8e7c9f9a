using System.Text.RegularExpressions;
using RecoverableStreams.Scripts;

namespace RecoverableStreams.Tests.Scripts;

/// <summary>
/// Every script declares every key it touches in KEYS (issue 8): a cluster node checks slots, redirects (MOVED/ASK,
/// TRYAGAIN during a migration) and proxies route, by the declared keys only. A key a script builds from ARGV is
/// invisible to them: during a slot migration the node refuses it in the middle of the script ("non local key"),
/// after the script's earlier writes. The end-to-end check is the cluster's slot migration test
/// (IntegrationTests/Topologies/ClusterTests); this one reads the source, so it names the script and line.
/// <para>
/// The heuristic (Lua is not parsed): a key argument is the first argument after the command name of
/// <c>redis.call</c>/<c>redis.pcall</c>, except for commands whose first argument is not a key (listed in
/// <see cref="FirstArgumentIsNotAKey"/>). It is flagged when it mentions <c>ARGV</c>, or a variable assigned from an
/// expression that mentions <c>ARGV</c> (directly or through another such variable). A key that is a plain local
/// copy of <c>KEYS[i]</c> passes. Comments are ignored.
/// </para>
/// </summary>
public sealed class ScriptKeyDeclarationTests
{
    /// <summary>Commands whose first argument is a subcommand, a channel or nothing: their keys are not checked here.</summary>
    private static readonly HashSet<string> FirstArgumentIsNotAKey = new(StringComparer.OrdinalIgnoreCase)
    {
        "TIME", "XREADGROUP", "XREAD", "XINFO", "XGROUP", "PUBLISH", "SPUBLISH", "INFO", "PING", "ECHO",
    };

    public static IEnumerable<string> ScriptNames => ScriptSource.Names;

    [TestCaseSource(nameof(ScriptNames))]
    public void Every_key_the_script_touches_is_declared_in_KEYS(string script)
    {
        var undeclared = UndeclaredKeys(ScriptSource.Get(script));

        Assert.That(undeclared, Is.Empty, $"{script}.lua touches keys built from ARGV; declare them in KEYS instead");
    }

    [Test]
    public void The_heuristic_flags_a_key_built_from_ARGV_directly_or_through_a_variable()
    {
        const string Script = """
            local lease_key = ARGV[5] .. id
            local other = lease_key .. ':x'
            redis.call('GET', lease_key)
            redis.call('EXISTS', ARGV[2] .. id) -- a comment with redis.call('DEL', ARGV[1])
            redis.call('DEL', other)
            redis.call("SET", ARGV[1], 'v')
            """;

        Assert.That(UndeclaredKeys(Script).Select(u => u.Line), Is.EqualTo(new[] { 3, 4, 5, 6 }));
    }

    [Test]
    public void The_heuristic_passes_declared_keys_and_commands_without_a_key_first()
    {
        const string Script = """
            local lease = KEYS[4]
            redis.call('GET', KEYS[1])
            redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. 'x')
            redis.call('DEL', lease)
            redis.pcall('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'STREAMS', KEYS[1], '>')
            redis.call('TIME')
            """;

        Assert.That(UndeclaredKeys(Script), Is.Empty);
    }

    /// <summary>The calls whose key argument is built from ARGV: line number and the line's text.</summary>
    internal static IReadOnlyList<(int Line, string Text)> UndeclaredKeys(string source)
    {
        var lines = source.Split('\n').Select(StripComment).ToArray();
        var tainted = new HashSet<string>(StringComparer.Ordinal);
        var assignment = new Regex(@"^\s*(?:local\s+)?([A-Za-z_]\w*)\s*=\s*(.+)$");
        // Until no new variable is found: a variable built from a tainted one is tainted too.
        for (var changed = true; changed;)
        {
            changed = false;
            foreach (var line in lines)
            {
                var match = assignment.Match(line);
                if (match.Success && MentionsArgv(match.Groups[2].Value, tainted) && tainted.Add(match.Groups[1].Value))
                {
                    changed = true;
                }
            }
        }

        var call = new Regex("""redis\.p?call\(\s*['"](\w+)['"]\s*,\s*([^,)]+)""");
        var found = new List<(int, string)>();
        for (var i = 0; i < lines.Length; i++)
        {
            foreach (Match match in call.Matches(lines[i]))
            {
                if (!FirstArgumentIsNotAKey.Contains(match.Groups[1].Value) && MentionsArgv(match.Groups[2].Value, tainted))
                {
                    found.Add((i + 1, lines[i].Trim()));
                }
            }
        }

        return found;
    }

    private static bool MentionsArgv(string expression, HashSet<string> tainted) =>
        expression.Contains("ARGV", StringComparison.Ordinal)
        || Regex.Matches(expression, @"[A-Za-z_]\w*").Any(m => tainted.Contains(m.Value));

    /// <summary>Drops a <c>--</c> comment (the scripts have no "--" inside strings).</summary>
    private static string StripComment(string line)
    {
        var at = line.IndexOf("--", StringComparison.Ordinal);
        return at < 0 ? line : line[..at];
    }
}
