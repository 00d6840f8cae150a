using System.Text.RegularExpressions;
using Supermachine.Diagnostics;

namespace Supermachine.Images;

/// <summary>
/// What a manifest must say before anything it names is opened. It is input (a directory may come
/// from a CI cache, a colleague or an attacker), so every field a load relies on is checked
/// (SM3252), and it must vouch for every file a boot or restore reads: the root filesystem,
/// kernel and initramfs always, and every file of the engine's snapshot folder when it has a
/// snapshot (SM3254). A file it does not list could be swapped without any hash noticing.
/// </summary>
internal static partial class SnapshotManifestRules
{
    /// <summary>Files every image boots from.</summary>
    private static readonly string[] BootFiles = [ArtifactLayout.Rootfs, ArtifactLayout.Kernel, ArtifactLayout.Initramfs];

    public static void Check(string directory, SnapshotManifest manifest)
    {
        // Required non-null members are enforced by the serializer (RespectNullableAnnotations);
        // list elements and their contents are not.
        if (manifest.Files is null)
        {
            throw Malformed(directory, "it has no 'files' list");
        }
        var listed = new HashSet<string>(StringComparer.Ordinal);
        foreach (SnapshotManifest.FileRecord? file in manifest.Files)
        {
            if (file is null)
            {
                throw Malformed(directory, "'files' has a null entry");
            }
            if (file.Path is null || !IsPlainRelative(file.Path))
            {
                throw Malformed(directory, $"the file name '{file.Path}' is not a plain relative path");
            }
            if (file.Size < 0)
            {
                throw Malformed(directory, $"'{file.Path}' has the negative size {file.Size}");
            }
            if (file.Sha256 is null || !Sha256().IsMatch(file.Sha256))
            {
                throw Malformed(directory, $"'{file.Path}' has the hash '{file.Sha256}', not sha256:<64 hex digits>");
            }
            if (file.Path == SnapshotManifest.FileName || !listed.Add(file.Path))
            {
                throw Malformed(directory, $"'{file.Path}' is listed twice");
            }
        }
        // Files put into the guest are read at a cold start: vouched for like the boot files.
        foreach (SnapshotManifest.StagedFileRecord? staged in manifest.Workload.StagedFiles ?? [])
        {
            if (staged is null || staged.Path is null || !listed.Contains(staged.Path) || staged.GuestPath is null || !staged.GuestPath.StartsWith('/'))
            {
                throw Malformed(directory, $"the staged file '{staged?.Path}' is not a listed file with an absolute guest path");
            }
        }
        if (manifest.Workload.WaitForHttp is string http && Guest.Readiness.ReadinessText.ParseHttp(http) is null)
        {
            throw Malformed(directory, $"waitForHttp '{http}' is not PORT/PATH");
        }
        foreach (string required in BootFiles)
        {
            if (!listed.Contains(required))
            {
                throw Errors.ImageDamaged(directory, required, "is not vouched for by the manifest (it does not list it)");
            }
        }
        if (manifest.HasSnapshot)
        {
            string snapshot = Path.Combine(directory, ArtifactLayout.SnapshotDirectory);
            string[] present = Directory.Exists(snapshot)
                ? Directory.EnumerateFileSystemEntries(snapshot, "*", SearchOption.AllDirectories)
                    .Where(p => !Directory.Exists(p) || new DirectoryInfo(p).LinkTarget is not null)
                    .Select(p => Path.GetRelativePath(directory, p).Replace(Path.DirectorySeparatorChar, '/'))
                    .Order(StringComparer.Ordinal)
                    .ToArray()
                : [];
            if (!listed.Any(p => p.StartsWith(ArtifactLayout.SnapshotDirectory + "/", StringComparison.Ordinal)))
            {
                throw Errors.ImageDamaged(directory, ArtifactLayout.SnapshotDirectory, "is not vouched for by the manifest (it lists no snapshot file)");
            }
            if (manifest.Machine?.DiskMiB > 0 && !listed.Contains(ArtifactLayout.SnapshotDisk))
            {
                throw Errors.ImageDamaged(directory, ArtifactLayout.SnapshotDisk, "is not vouched for by the manifest (its machine has a disk, and the manifest does not list it)");
            }
            if (present.FirstOrDefault(p => !listed.Contains(p)) is string unlisted)
            {
                throw Errors.ImageDamaged(directory, unlisted, "is not vouched for by the manifest (it does not list it)");
            }
        }
    }

    /// <summary>A name inside the directory: relative, no empty, '.' or '..' part, no NUL.</summary>
    public static bool IsPlainRelative(string relative) =>
        relative.Length > 0 && !Path.IsPathRooted(relative) && !relative.Contains('\0')
        && !relative.Split('/', '\\').Any(p => p is ".." or "." or "");

    private static SupermachineException Malformed(string directory, string reason) => Errors.ManifestUnreadable(directory, reason);

    [GeneratedRegex("^sha256:[0-9a-f]{64}$", RegexOptions.CultureInvariant)]
    private static partial Regex Sha256();
}
