using System.Text.Json;
using Supermachine.Diagnostics;

namespace Supermachine.Bake;

/// <summary>
/// Where a bake may write. A bake replaces its destination in one rename and deletes the old one,
/// so it may only replace what it wrote itself: nothing, an empty directory, or a baked image
/// directory (a manifest.json of ours that lists every file there). Anything else is the user's
/// and is refused before any work starts (SM2320), as is a destination that would swallow the
/// build context (SM2321).
/// </summary>
public static class SnapshotDestination
{
    /// <summary>Throws SM2320 unless <paramref name="destination"/> is absent, an empty directory or an image directory we wrote.</summary>
    public static void EnsureReplaceable(string destination)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(destination));
        if (File.Exists(full) || (new DirectoryInfo(full) is { Exists: true, LinkTarget: not null }))
        {
            throw Diagnostic.Error("SM2320", full, File.Exists(full) ? "it is a file" : "it is a symbolic link");
        }
        if (!Directory.Exists(full) || !Directory.EnumerateFileSystemEntries(full).Any())
        {
            return;
        }
        if (WhyNotOurs(full) is string reason)
        {
            throw Diagnostic.Error("SM2320", full, reason);
        }
    }

    /// <summary>Throws SM2321 when <paramref name="destination"/> is the build context <paramref name="context"/> or one of its parents.</summary>
    public static void EnsureOutsideContext(string destination, string context)
    {
        string output = Path.TrimEndingDirectorySeparator(Path.GetFullPath(destination));
        string source = Path.TrimEndingDirectorySeparator(Path.GetFullPath(context));
        if (string.Equals(output, source, StringComparison.Ordinal))
        {
            throw Diagnostic.Error("SM2321", output, "is", source);
        }
        if (source.StartsWith(output + Path.DirectorySeparatorChar, StringComparison.Ordinal) || output == Path.GetPathRoot(output))
        {
            throw Diagnostic.Error("SM2321", output, "contains", source);
        }
    }

    /// <summary>Null when <paramref name="directory"/> holds a manifest of ours that lists every file in it; else why not.</summary>
    private static string? WhyNotOurs(string directory)
    {
        SnapshotManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<SnapshotManifest>(File.ReadAllBytes(Path.Combine(directory, SnapshotManifest.FileName)), SnapshotManifest.JsonOptions);
        }
        catch (FileNotFoundException)
        {
            return "it is not empty and has no manifest.json";
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return $"its manifest.json is not a Supermachine manifest: {e.Message}";
        }
        if (manifest?.Files is null || string.IsNullOrEmpty(manifest.Fingerprint))
        {
            return "its manifest.json is not a Supermachine manifest";
        }
        var listed = manifest.Files.Where(f => f?.Path is not null).Select(f => f.Path).ToHashSet(StringComparer.Ordinal);
        foreach (string file in Directory.EnumerateFileSystemEntries(directory, "*", SearchOption.AllDirectories))
        {
            if (Directory.Exists(file) && new DirectoryInfo(file).LinkTarget is null)
            {
                continue;
            }
            string relative = Path.GetRelativePath(directory, file).Replace(Path.DirectorySeparatorChar, '/');
            if (relative != SnapshotManifest.FileName && !listed.Contains(relative))
            {
                return $"'{relative}' is not one of the image's files";
            }
        }
        return null;
    }
}
