using Supermachine.Bake;

namespace Supermachine.Tests.Bake;

/// <summary>Image directories with the real layout and made-up content, committed like a bake commits them (no VM).</summary>
internal static class FakeImages
{
    /// <summary>Writes rootfs, kernel, initramfs and (when the manifest says so) a snapshot folder, and commits them to <paramref name="destination"/> (relative to <paramref name="root"/>).</summary>
    public static async Task<string> CommitAsync(string root, string destination, SnapshotManifest manifest, int ramBytes = 4096)
    {
        string full = Path.Combine(root, destination);
        string staging = Path.Combine(root, Path.GetFileName(full) + ".fake-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(staging);
        await File.WriteAllTextAsync(Path.Combine(staging, ArtifactLayout.Rootfs), "squash");
        await File.WriteAllTextAsync(Path.Combine(staging, ArtifactLayout.Kernel), "kernel");
        await File.WriteAllTextAsync(Path.Combine(staging, ArtifactLayout.Initramfs), "initramfs");
        if (manifest.HasSnapshot)
        {
            Directory.CreateDirectory(Path.Combine(staging, ArtifactLayout.SnapshotDirectory));
            await File.WriteAllBytesAsync(Path.Combine(staging, ArtifactLayout.SnapshotDirectory, "ram"), new byte[ramBytes]);
            await File.WriteAllTextAsync(Path.Combine(staging, ArtifactLayout.SnapshotDirectory, "vmstate"), "state");
        }
        await SnapshotDirectory.CommitAsync(staging, full, manifest);
        return full;
    }
}
