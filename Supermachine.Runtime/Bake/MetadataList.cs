using System.Text;

namespace Supermachine.Bake;

/// <summary>
/// A list in one item metadata value (Env, BuildArgs, HostPorts): entries separated by ';', a ';'
/// inside an entry written '\;' (<c>Env="OPTS=a\;b;MODE=x"</c>). The SDK splits an item's list
/// into one command-line option per entry, and the command line joins them back with
/// <see cref="Join"/>, so a value keeps its ';' on the way.
/// </summary>
internal static class MetadataList
{
    /// <summary>The entries of <paramref name="text"/>, trimmed, empty ones dropped, '\;' made ';'.</summary>
    public static IReadOnlyList<string> Split(string? text)
    {
        var entries = new List<string>();
        if (string.IsNullOrEmpty(text))
        {
            return entries;
        }
        var entry = new StringBuilder();
        for (int i = 0; i <= text.Length; i++)
        {
            if (i < text.Length && text[i] == '\\' && i + 1 < text.Length && text[i + 1] == ';')
            {
                entry.Append(';');
                i++;
            }
            else if (i == text.Length || text[i] == ';')
            {
                string done = entry.ToString().Trim();
                if (done.Length > 0)
                {
                    entries.Add(done);
                }
                entry.Clear();
            }
            else
            {
                entry.Append(text[i]);
            }
        }
        return entries;
    }

    /// <summary>One metadata value holding <paramref name="entries"/>, each ';' in them escaped: <see cref="Split"/> gives them back.</summary>
    public static string Join(IEnumerable<string> entries) => string.Join(';', entries.Select(e => e.Replace(";", "\\;", StringComparison.Ordinal)));
}
