using System.Collections.Concurrent;
using Supermachine.Diagnostics;
using Supermachine.Images;
using Supermachine.Locations;

namespace Supermachine;

/// <summary>
/// A baked image on disk: a directory with manifest.json, the root filesystem, the guest kernel and
/// initramfs, and (usually) a RAM snapshot to restore. Made by `dotnet build` with a MicroVmImage
/// item, by `supermachine bake`, or by <see cref="MicroVm.SnapshotAsync"/>.
/// </summary>
public sealed class MicroVmImage
{
    private static readonly ConcurrentDictionary<string, Task> Verified = new(StringComparer.Ordinal);

    internal MicroVmImage(StoredImage stored)
    {
        Stored = stored;
    }

    internal StoredImage Stored { get; }

    /// <summary>The image's directory (absolute).</summary>
    public string Directory => Stored.Directory;

    public SnapshotManifest Manifest => Stored.Manifest;

    public string Name => Manifest.Name;

    /// <summary>True when a RAM snapshot is there, so a start restores instead of booting.</summary>
    public bool HasSnapshot => Manifest.HasSnapshot;

    /// <summary>Loads the image in <paramref name="directory"/> (SM3251-SM3254 when it is not a complete one).</summary>
    public static MicroVmImage Load(string directory) => new(StoredImage.Load(directory));

    /// <summary>
    /// Finds the image an app's build baked under the name <paramref name="name"/>:
    /// <c>microvms/NAME</c> beside the app (<see cref="AppContext.BaseDirectory"/>) unless
    /// <paramref name="baseDirectory"/> says where.
    /// </summary>
    public static MicroVmImage Find(string name, string? baseDirectory = null)
    {
        string root = Path.Combine(baseDirectory ?? AppContext.BaseDirectory, ArtifactLayout.OutputFolder);
        string directory = Path.Combine(root, name);
        if (!ArtifactName.IsValid(name) || !System.IO.Directory.Exists(directory))
        {
            string known = System.IO.Directory.Exists(root)
                ? string.Join(", ", System.IO.Directory.EnumerateDirectories(root).Select(Path.GetFileName).Order(StringComparer.Ordinal))
                : "";
            throw Errors.BakedImageNotFound(name, root, known.Length == 0 ? "none" : known);
        }
        return Load(directory);
    }

    /// <summary>
    /// Hashes every file against the manifest, once per process and directory, and not again in
    /// later processes while a stamp in the cache shows the files unchanged since: a truncated or
    /// altered image fails here (SM3254) instead of booting garbage, and start-up stays fast.
    /// </summary>
    internal Task VerifyOnceAsync(CancellationToken cancellationToken)
    {
        string key = Directory + "|" + File.GetLastWriteTimeUtc(Path.Combine(Directory, SnapshotManifest.FileName)).Ticks;
        Task verification = Verified.GetOrAdd(key, _ => SnapshotDirectory.VerifyUnlessStampedAsync(Directory, Manifest, CacheLayout.At(null).VerificationStamps, CancellationToken.None));
        if (verification.IsFaulted)
        {
            Verified.TryRemove(key, out _);
        }
        return verification.WaitAsync(cancellationToken);
    }
}
