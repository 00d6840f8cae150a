using System.Text;
using System.Text.RegularExpressions;

namespace Supermachine.Images;

/// <summary>
/// The name a baked image goes by: the folder under microvms/ and what MicroVm.StartAsync(name)
/// looks for. Derived from the reference when the item gives none: "redis:7" -> "redis_7",
/// "ghcr.io/acme/api:1.2" -> "api_1.2", "redis@sha256:abcd..." -> "redis_sha256-abcdef012345".
/// </summary>
internal static partial class ArtifactName
{
    private const int MaxLength = 100;

    public static string FromReference(string reference)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reference);
        string text = reference.Trim();
        string? digest = null;
        int at = text.IndexOf('@');
        if (at >= 0)
        {
            digest = text[(at + 1)..];
            text = text[..at];
        }

        // Only the repository's last segment and the tag: the registry and namespace rarely tell two images apart.
        string last = text[(text.LastIndexOf('/') + 1)..];
        var name = new StringBuilder(last.Replace(':', '_'));
        if (digest is not null)
        {
            int colon = digest.IndexOf(':');
            string algorithm = colon > 0 ? digest[..colon] : "digest";
            string hex = colon > 0 ? digest[(colon + 1)..] : digest;
            name.Append('_').Append(algorithm).Append('-').Append(hex[..Math.Min(12, hex.Length)]);
        }
        string result = Unsafe().Replace(name.ToString(), "_").Trim('.', '-');
        return result.Length > MaxLength ? result[..MaxLength] : result;
    }

    /// <summary>True for names that are safe as a single folder name on every OS.</summary>
    public static bool IsValid(string name) =>
        name.Length is > 0 and <= MaxLength && Valid().IsMatch(name) && name is not "." and not "..";

    [GeneratedRegex("[^A-Za-z0-9_.-]")]
    private static partial Regex Unsafe();

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]
    private static partial Regex Valid();
}
