using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace RecoverableStreams.Hosting.Configuration;

/// <summary>
/// The keys of a service's section that match no property of <see cref="RecoverableStreamOptions"/> nor of
/// <see cref="RecoverableStreamsHostingOptions"/> (nested objects such as <c>HandlerRetry</c> are checked key by key).
/// Child sections named after keyed services (<c>RecoverableStreams:{serviceKey}</c>) are theirs, not unknown.
/// </summary>
internal static class UnknownConfigurationKeys
{
    public static IReadOnlyList<string> Find(IConfiguration section, IEnumerable<string> childServiceKeys)
    {
        var reserved = childServiceKeys.ToHashSet(StringComparer.OrdinalIgnoreCase);
        var unknown = new List<string>();
        foreach (var child in section.GetChildren())
        {
            if (reserved.Contains(child.Key))
            {
                continue;
            }

            var property = FindProperty(typeof(RecoverableStreamOptions), child.Key) ?? FindProperty(typeof(RecoverableStreamsHostingOptions), child.Key);
            Collect(child, property, unknown);
        }

        return unknown;
    }

    private static void Collect(IConfigurationSection section, PropertyInfo? property, List<string> unknown)
    {
        if (property is null)
        {
            unknown.Add(section.Path);
            return;
        }

        var type = property.PropertyType;
        if (type == typeof(string) || !type.IsClass)
        {
            return;
        }

        foreach (var child in section.GetChildren())
        {
            Collect(child, FindProperty(type, child.Key), unknown);
        }
    }

    private static PropertyInfo? FindProperty(Type type, string key) =>
        type.GetProperty(key, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
}
