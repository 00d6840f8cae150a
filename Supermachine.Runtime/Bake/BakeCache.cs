using Supermachine.Diagnostics;
using Supermachine.FileSystem;

namespace Supermachine.Bake;

/// <summary>
/// Baked images shared between projects, builds and (through a CI cache) machines, keyed by
/// bake fingerprint: <c>CACHE/bakes/HEX</c>. A hit is copied (reflinked where possible) into the
/// output instead of baked again; outputs never share a file with an entry, so nothing done to an
/// output reaches the cache. Entries are written through a staging directory and a rename, and
/// verified against their manifest before reuse.
/// </summary>
public sealed class BakeCache
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

    /// <summary>Stamps of verified entries (<see cref="SnapshotDirectory.VerifyUnlessStampedAsync"/>).</summary>
    public string StampDirectory => Path.Combine(Path.GetDirectoryName(Root)!, "verified");

    /// <summary>
    /// The cached image for <paramref name="fingerprint"/>, checked against the hashes of its
    /// manifest (cheap while its verification stamp holds); null when there is none or it is
    /// damaged, which is then removed with an SM4010 warning so the bake that follows replaces it.
    /// The caller holds the entry's lock.
    /// </summary>
    public async Task<MicroVmImage?> TryGetAsync(string fingerprint, Action<string>? warning = null, CancellationToken cancellationToken = default)
    {
        string path = PathFor(fingerprint);
        if (!File.Exists(Path.Combine(path, SnapshotManifest.FileName)))
        {
            return null;
        }
        MicroVmImage image;
        try
        {
            image = MicroVmImage.Load(path);
            if (image.Manifest.Fingerprint != fingerprint)
            {
                return null;
            }
            await SnapshotDirectory.VerifyUnlessStampedAsync(path, image.Manifest, StampDirectory, cancellationToken).ConfigureAwait(false);
        }
        catch (SupermachineException e)
        {
            // A damaged entry is worth nothing, and reusing it would fail every later bake the same way.
            warning?.Invoke(Diagnostic.Format("SM4010", fingerprint, path, e.Message));
            SnapshotDirectory.DeleteIfPresent(path);
            return null;
        }
        return image;
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
    /// Makes <paramref name="destination"/> a copy of the image in <paramref name="source"/> that
    /// shares no writable inode with it (<see cref="FileClone"/>: reflinks where the file system
    /// has them, else copies of the data, holes kept), so damage to either never reaches the other.
    /// Replaces what was there in one rename (only a directory a bake wrote; SM2320 otherwise).
    /// </summary>
    public static void Materialize(string source, string destination)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(destination));
        if (string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(source)), full, StringComparison.Ordinal))
        {
            return;
        }
        SnapshotDestination.EnsureReplaceable(full);
        string staging = SnapshotDirectory.CreateStaging(full);
        try
        {
            foreach (string file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
            {
                string target = Path.Combine(staging, Path.GetRelativePath(source, file));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                FileClone.Copy(file, target);
            }
            SnapshotDirectory.Replace(staging, full);
        }
        finally
        {
            SnapshotDirectory.DeleteIfPresent(staging);
        }
    }
}
