using System.Runtime.InteropServices;
using Supermachine.Diagnostics;

namespace Supermachine.Bake;

/// <summary>
/// Baked images shared between projects, builds and (through a CI cache) machines, keyed by
/// bake fingerprint: <c>CACHE/bakes/HEX</c>. A hit is linked into the output instead of baked
/// again. Entries are written through a staging directory and a rename, and a restore only ever
/// reads them, so hard links from many outputs to one entry are safe.
/// </summary>
public sealed partial class BakeCache
{
    public BakeCache(string? root = null)
    {
        Root = Path.Combine(root ?? Oci.Storage.ContentStore.DefaultRoot(), "bakes");
    }

    public string Root { get; }

    /// <summary>Where the bake with <paramref name="fingerprint"/> lives (or would).</summary>
    public string PathFor(string fingerprint)
    {
        string hex = fingerprint.Contains(':') ? fingerprint[(fingerprint.IndexOf(':') + 1)..] : fingerprint;
        if (hex.Length < 32 || !hex.All(char.IsAsciiHexDigitLower))
        {
            throw new ArgumentException($"'{fingerprint}' is not a bake fingerprint.", nameof(fingerprint));
        }
        return Path.Combine(Root, hex[..32]);
    }

    /// <summary>The cached image for <paramref name="fingerprint"/>, or null when there is none or it is damaged (then it is removed).</summary>
    public MicroVmImage? TryGet(string fingerprint)
    {
        string path = PathFor(fingerprint);
        if (!File.Exists(Path.Combine(path, SnapshotManifest.FileName)))
        {
            return null;
        }
        try
        {
            MicroVmImage image = MicroVmImage.Load(path);
            return image.Manifest.Fingerprint == fingerprint ? image : null;
        }
        catch (SupermachineException)
        {
            // A damaged entry is worth nothing: drop it so the bake that follows can take its place.
            Directory.Delete(path, recursive: true);
            return null;
        }
    }

    /// <summary>
    /// A cached bake of the same reference made by another engine or accelerator (a CI cache restored
    /// from a different machine, say): it cannot be used, and the caller says so before re-baking.
    /// </summary>
    public SnapshotManifest? FindFromOtherEngine(string reference, SnapshotManifest.EngineRecord engine, string accelerator)
    {
        if (!Directory.Exists(Root))
        {
            return null;
        }
        foreach (string entry in Directory.EnumerateDirectories(Root).Order(StringComparer.Ordinal))
        {
            try
            {
                SnapshotManifest manifest = SnapshotDirectory.Load(entry);
                if (manifest.Reference == reference && (manifest.Engine != engine || manifest.Machine.Accelerator != accelerator))
                {
                    return manifest;
                }
            }
            catch (SupermachineException)
            {
                // Damaged or half-made entries are not worth a warning; TryGet removes them when hit.
            }
        }
        return null;
    }

    /// <summary>
    /// Makes <paramref name="destination"/> a copy of the image in <paramref name="source"/>: hard links
    /// where the file system allows (instant, no extra space), else copies. Replaces what was there in
    /// one rename.
    /// </summary>
    public static void Materialize(string source, string destination)
    {
        string full = Path.GetFullPath(destination).TrimEnd(Path.DirectorySeparatorChar);
        if (string.Equals(Path.GetFullPath(source).TrimEnd(Path.DirectorySeparatorChar), full, StringComparison.Ordinal))
        {
            return;
        }
        string staging = SnapshotDirectory.CreateStaging(full);
        foreach (string file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(staging, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            if (OperatingSystem.IsWindows() || Link(file, target) != 0)
            {
                File.Copy(file, target);
            }
        }
        SnapshotDirectory.Replace(staging, full);
    }

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Link(string existing, string newPath);
}
