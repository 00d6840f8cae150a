using Supermachine.Diagnostics;
using Supermachine.Vmm;

namespace Supermachine.Images;

/// <summary>
/// A baked image directory whose manifest has been read and checked (every listed file present
/// with its size; see <see cref="SnapshotDirectory.Load"/>), with the paths of its parts. What the
/// bake and the cache hand on, and what the public <c>MicroVmImage</c> wraps.
/// </summary>
internal sealed record StoredImage(string Directory, SnapshotManifest Manifest)
{
    public string RootfsPath => Path.Combine(Directory, ArtifactLayout.Rootfs);

    public string KernelPath => Path.Combine(Directory, ArtifactLayout.Kernel);

    public string InitramfsPath => Path.Combine(Directory, ArtifactLayout.Initramfs);

    public string SnapshotPath => Path.Combine(Directory, ArtifactLayout.SnapshotDirectory);

    /// <summary>
    /// Why this image's RAM snapshot cannot be restored with <paramref name="backend"/> on this host
    /// (the engine's one check, <see cref="IVmBackend.FindMismatch"/>), or null when it can or when
    /// there is no snapshot. A bake then knows the image came from elsewhere and bakes it again.
    /// </summary>
    public string? FindSnapshotMismatch(IVmBackend backend, Accelerator? requested)
    {
        if (!Manifest.HasSnapshot)
        {
            return null;
        }
        try
        {
            return backend.FindMismatch(backend.ReadSnapshot(SnapshotPath), requested)?.ToString();
        }
        catch (SupermachineException e)
        {
            return e.Text;
        }
    }

    /// <summary>Loads the image in <paramref name="directory"/> (SM3251-SM3254 when it is not a complete one).</summary>
    public static StoredImage Load(string directory)
    {
        string full = Path.GetFullPath(directory);
        return new StoredImage(full, SnapshotDirectory.Load(full));
    }
}
