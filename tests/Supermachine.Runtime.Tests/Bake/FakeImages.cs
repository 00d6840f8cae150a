using Supermachine.Bake;

namespace Supermachine.Tests.Bake;

/// <summary>Image directories with the real layout and made-up content, committed like a bake commits them (no VM).</summary>
internal static class FakeImages
{
    /// <summary>A manifest as a bake writes it, with the files left for the commit to fill in.</summary>
    public static SnapshotManifest Manifest(string fingerprint, bool hasSnapshot = true) => new()
    {
        Name = "app",
        Reference = "app:1",
        ImageDigest = "sha256:" + new string('a', 64),
        Workload = new(),
        Machine = new(),
        Engine = new() { Name = "qemu", Version = "7.2.0" },
        Assets = new Dictionary<string, string>(),
        Fingerprint = fingerprint,
        HasSnapshot = hasSnapshot,
        Files = [],
    };

    /// <summary>Inverts one byte in place: same size, same name, different content.</summary>
    public static void FlipByte(string path, long offset)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        file.Position = offset;
        int b = file.ReadByte();
        file.Position = offset;
        file.WriteByte((byte)(b ^ 0xff));
    }

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
