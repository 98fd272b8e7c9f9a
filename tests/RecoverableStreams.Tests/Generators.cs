using FsCheck;
using FsCheck.Fluent;

namespace RecoverableStreams.Tests;

/// <summary>Shared FsCheck generators: text that leans towards the characters that matter to keys and JSON.</summary>
internal static class Generators
{
    private static readonly char[] Interesting = ['{', '}', ':', '|', '\n', '\r', '\0', '"', '\\', '*', '?', '[', ' ', 'é', '流', '\ud83d', '\ude80', '\ud800'];

    /// <summary>Strings of up to ~60 characters: arbitrary ones, and ones built from key-relevant characters.</summary>
    public static Gen<string> Text() =>
        Gen.Frequency(
            (2, ArbMap.Default.GeneratorFor<string>().Where(s => s is not null)),
            (3, from chars in Between(Gen.Frequency((2, Gen.Elements(Interesting)), (3, Gen.Choose('a', 'z').Select(c => (char)c))), 0, 60)
                select new string(chars.ToArray())));

    /// <summary>Between <paramref name="min"/> and <paramref name="max"/> values of <paramref name="gen"/>.</summary>
    public static Gen<T[]> Between<T>(Gen<T> gen, int min, int max) =>
        from count in Gen.Choose(min, max)
        from values in Gen.ListOf(gen, count)
        select values.ToArray();

    public static Gen<byte[]> Bytes() => ArbMap.Default.GeneratorFor<byte[]>().Where(b => b is not null);
}
