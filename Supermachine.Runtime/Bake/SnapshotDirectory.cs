using System.Security.Cryptography;
using System.Text.Json;
using Supermachine.Diagnostics;
using Supermachine.FileSystem;

namespace Supermachine.Bake;

/// <summary>
/// Reads, checks and writes baked image directories (manifest.json plus the files it lists).
/// Writing goes through a sibling temp directory and a rename, so a killed bake never leaves a
/// directory that looks complete; reading refuses anything the manifest does not vouch for.
/// </summary>
public static class SnapshotDirectory
{
    /// <summary>
    /// Loads the manifest, checks that it is well formed and lists every file a boot or restore
    /// reads (<see cref="SnapshotManifestRules"/>), and that each listed file is present with its
    /// recorded size (cheap; no hashing).
    /// </summary>
    public static SnapshotManifest Load(string directory)
    {
        string path = Path.Combine(directory, SnapshotManifest.FileName);
        if (!File.Exists(path))
        {
            throw Diagnostic.Error("SM3251", directory);
        }
        SnapshotManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<SnapshotManifest>(File.ReadAllBytes(path), SnapshotManifest.JsonOptions);
        }
        catch (JsonException e)
        {
            throw Diagnostic.Error(e, "SM3252", directory, e.Message);
        }
        if (manifest is null)
        {
            throw Diagnostic.Error("SM3252", directory, "the file is empty");
        }
        if (manifest.FormatVersion != SnapshotManifest.CurrentFormatVersion)
        {
            throw Diagnostic.Error("SM3253", directory, manifest.FormatVersion, SnapshotManifest.CurrentFormatVersion);
        }
        SnapshotManifestRules.Check(directory, manifest);
        foreach (SnapshotManifest.FileRecord file in manifest.Files)
        {
            var info = new FileInfo(Resolve(directory, file.Path));
            if (!info.Exists)
            {
                throw Diagnostic.Error("SM3254", directory, file.Path, "is missing");
            }
            if (info.Length != file.Size)
            {
                throw Diagnostic.Error("SM3254", directory, file.Path, $"has {info.Length} bytes where the manifest records {file.Size}");
            }
        }
        return manifest;
    }

    /// <summary>Hashes every listed file and throws SM3254 for the first that differs from the manifest.</summary>
    public static async Task VerifyAsync(string directory, SnapshotManifest manifest, CancellationToken cancellationToken = default)
    {
        foreach (SnapshotManifest.FileRecord file in manifest.Files)
        {
            string actual = await HashFileAsync(Resolve(directory, file.Path), cancellationToken);
            if (!string.Equals(actual, file.Sha256, StringComparison.Ordinal))
            {
                throw Diagnostic.Error("SM3254", directory, file.Path, "does not match the hash in its manifest (altered or corrupt)");
            }
        }
    }

    /// <summary>
    /// <see cref="VerifyAsync"/>, skipped when <paramref name="stampDirectory"/> holds a stamp of an
    /// earlier verification of these very files: the same paths, hashes, inodes, sizes and change
    /// times. A process that starts a VM then pays the hashing of a large RAM file once per image,
    /// not once per process; any write to a file (even one that keeps its size and mtime) changes
    /// its ctime and brings the full check back. A stamp that cannot be written is no error.
    /// </summary>
    public static async Task VerifyUnlessStampedAsync(string directory, SnapshotManifest manifest, string stampDirectory, CancellationToken cancellationToken = default)
    {
        string stamp = Path.Combine(stampDirectory, Convert.ToHexStringLower(SHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes(Path.GetFullPath(directory) + "\n" + manifest.Fingerprint)))[..32]);
        string? current = StampOf(directory, manifest);
        if (current is not null && File.Exists(stamp) && await File.ReadAllTextAsync(stamp, cancellationToken).ConfigureAwait(false) == current)
        {
            return;
        }
        await VerifyAsync(directory, manifest, cancellationToken).ConfigureAwait(false);
        if (current is null || StampOf(directory, manifest) != current)
        {
            return; // changed while being hashed: no stamp
        }
        try
        {
            Directory.CreateDirectory(stampDirectory);
            string temp = stamp + "." + Guid.NewGuid().ToString("N") + ".tmp";
            await File.WriteAllTextAsync(temp, current, cancellationToken).ConfigureAwait(false);
            File.Move(temp, stamp, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    private static string? StampOf(string directory, SnapshotManifest manifest)
    {
        try
        {
            var text = new System.Text.StringBuilder(DirectoryTreeReader.ChangeStamp(Path.Combine(directory, SnapshotManifest.FileName))).Append('\n');
            foreach (SnapshotManifest.FileRecord file in manifest.Files)
            {
                text.Append(file.Path).Append(' ').Append(file.Sha256).Append(' ').Append(DirectoryTreeReader.ChangeStamp(Resolve(directory, file.Path))).Append('\n');
            }
            return text.ToString();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SupermachineException)
        {
            return null; // a missing file: the full check says which
        }
    }

    /// <summary>
    /// Records every file of <paramref name="staging"/> in the manifest, writes manifest.json and moves
    /// the whole directory to <paramref name="destination"/>, replacing what was there.
    /// </summary>
    public static async Task<SnapshotManifest> CommitAsync(string staging, string destination, SnapshotManifest manifest, CancellationToken cancellationToken = default)
    {
        var files = new List<SnapshotManifest.FileRecord>();
        foreach (string full in Directory.EnumerateFiles(staging, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            string relative = Path.GetRelativePath(staging, full).Replace(Path.DirectorySeparatorChar, '/');
            if (relative == SnapshotManifest.FileName)
            {
                continue;
            }
            files.Add(new SnapshotManifest.FileRecord
            {
                Path = relative,
                Size = new FileInfo(full).Length,
                Sha256 = await HashFileAsync(full, cancellationToken),
            });
        }
        SnapshotManifest complete = manifest with { Files = files };
        await File.WriteAllBytesAsync(Path.Combine(staging, SnapshotManifest.FileName),
            JsonSerializer.SerializeToUtf8Bytes(complete, SnapshotManifest.JsonOptions), cancellationToken);

        cancellationToken.ThrowIfCancellationRequested();
        Replace(staging, destination);
        return complete;
    }

    /// <summary>
    /// A fresh, empty sibling of <paramref name="destination"/> to build in ("DEST.staging-PID_START"),
    /// cleared of whatever a killed earlier attempt of this process left there. Staging and
    /// replaced directories of dead processes beside it are removed first.
    /// </summary>
    internal static string CreateStaging(string destination)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(destination));
        if (Path.GetDirectoryName(full) is string parent)
        {
            ScratchFiles.DeleteOrphans(parent, StagingKind, TrashKind);
        }
        string staging = ScratchFiles.Sibling(full, StagingKind);
        DeleteIfPresent(staging);
        Directory.CreateDirectory(staging);
        return staging;
    }

    /// <summary>Removes <paramref name="directory"/> and everything in it, if it is there.</summary>
    internal static void DeleteIfPresent(string directory)
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>
    /// Puts the complete directory <paramref name="staging"/> at <paramref name="destination"/>,
    /// moving any previous one aside first: a reader sees the old directory or the new one, never a
    /// mix. Only what a bake wrote is ever replaced (<see cref="SnapshotDestination.EnsureReplaceable"/>).
    /// </summary>
    internal static void Replace(string staging, string destination)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(destination));
        SnapshotDestination.EnsureReplaceable(full);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string trash = ScratchFiles.Sibling(full, TrashKind);
        DeleteIfPresent(trash);
        if (Directory.Exists(full))
        {
            Directory.Move(full, trash);
        }
        Directory.Move(staging, full);
        DeleteIfPresent(trash);
    }

    /// <summary>"sha256:hex" of a file's content.</summary>
    public static async Task<string> HashFileAsync(string path, CancellationToken cancellationToken = default)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan | FileOptions.Asynchronous);
        byte[] hash = await SHA256.HashDataAsync(stream, cancellationToken);
        return "sha256:" + Convert.ToHexStringLower(hash);
    }

    private static string Resolve(string directory, string relative)
    {
        // A manifest is input: it may only name files inside its own directory.
        if (!SnapshotManifestRules.IsPlainRelative(relative))
        {
            throw Diagnostic.Error("SM3252", directory, $"the file name '{relative}' is not a plain relative path");
        }
        return Path.Combine(directory, relative);
    }

    private const string StagingKind = "staging";
    private const string TrashKind = "old";
}
