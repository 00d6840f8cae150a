namespace Supermachine.Images;

/// <summary>
/// The files of a baked image directory. Every name is relative, so the directory moves as one
/// piece. The kernel and initramfs travel with it because a RAM snapshot only restores on the
/// guest it was taken from.
/// </summary>
internal static class ArtifactLayout
{
    public const string Rootfs = "rootfs.squashfs";

    public const string Kernel = "vmlinuz";

    public const string Initramfs = "initramfs.img";

    /// <summary>The engine's snapshot files (device state, guest RAM, its own description).</summary>
    public const string SnapshotDirectory = "snapshot";

    /// <summary>
    /// The snapshot's writable disk (compact qcow2): shared read-only like the RAM file, each restore
    /// writes to its own overlay of it. A manifest whose machine has a disk must vouch for it.
    /// </summary>
    public const string SnapshotDisk = SnapshotDirectory + "/" + Vmm.Qemu.QemuSnapshot.DiskFile;

    /// <summary>Host files put into the guest before its workload starts (files/0, files/1, ...).</summary>
    public const string StagedFiles = "files";

    /// <summary>The folder under an app's output that holds its baked images, one folder per name.</summary>
    public const string OutputFolder = "microvms";
}
