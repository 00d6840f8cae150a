namespace Supermachine.Vmm;

/// <summary>What a run-time attachment gives the guest.</summary>
internal enum VmAttachmentKind
{
    /// <summary>A disk file (raw ext4): a named volume, as a virtio disk.</summary>
    Disk,

    /// <summary>A host directory, as a virtio-9p share served by the engine itself.</summary>
    Share,
}

/// <summary>
/// A volume or host directory attached to a running VM (after a cold boot or a restore), never
/// part of a snapshot. The engine opens its host side with the VM and plugs the device into a
/// hot-plug slot when asked (<see cref="IVirtualMachine.PlugAttachmentsAsync"/>).
/// </summary>
internal sealed record VmAttachment
{
    public required VmAttachmentKind Kind { get; init; }

    /// <summary>The guest finds the device by it: the disk's serial or the share's tag (at most 20 characters).</summary>
    public required string Id { get; init; }

    /// <summary>The disk file or the directory on the host.</summary>
    public required string HostPath { get; init; }

    /// <summary>The engine refuses the guest's writes (a read-only disk; a share opened read-only on the host side).</summary>
    public bool ReadOnly { get; init; }
}

/// <summary>
/// A volume that is part of the machine from its cold boot, and so of its snapshot (a bake-time
/// volume): a fresh sparse ext4 disk that a snapshot records like the writable disk, and whose
/// restores each write to their own copy-on-write view. The guest finds it by the serial "sm-b"
/// and its index.
/// </summary>
internal sealed record VmBakedVolume(string Name, int SizeMiB)
{
    public static string Serial(int index) => "sm-b" + index.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
