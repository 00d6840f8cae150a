using Supermachine.Diagnostics;
using Supermachine.Locations;
using Supermachine.Oci.Storage;
using Supermachine.Vmm;
using Supermachine.Vmm.Qemu;

namespace Supermachine.Guest.Storage;

/// <summary>
/// The run-time volumes and host directories of one VM: the engine's attachments, the mounts the
/// agent makes once they are plugged, and the locks that keep a volume from being written by two
/// running VMs at once (one ext4 file system, two kernels caching it, would be corrupted). Dispose
/// it when the VM is gone.
/// </summary>
internal sealed class GuestStorage : IDisposable
{
    /// <summary>How long the guest may take to see a plugged device.</summary>
    private static readonly TimeSpan DeviceTimeout = TimeSpan.FromSeconds(30);

    private readonly List<FileStream> _locks;

    private GuestStorage(IReadOnlyList<VmAttachment> attachments, IReadOnlyList<GuestMount> mounts, List<FileStream> locks)
    {
        Attachments = attachments;
        Mounts = mounts;
        _locks = locks;
    }

    public static GuestStorage None { get; } = new([], [], []);

    public IReadOnlyList<VmAttachment> Attachments { get; }

    /// <summary>Whether a volume is attached read-write: its data must be flushed before the VM stops.</summary>
    public bool HasWritableVolumes => Attachments.Any(a => a.Kind == VmAttachmentKind.Disk && !a.ReadOnly);

    /// <summary>The agent's mounts of <see cref="Attachments"/>, in the same order.</summary>
    public IReadOnlyList<GuestMount> Mounts { get; }

    /// <summary>
    /// Opens (creating when new, as an empty sparse ext4 of <paramref name="volumeMiB"/> MiB) and locks
    /// each volume under <paramref name="volumeDirectory"/> (null: the cache's), and checks each host
    /// directory: SM2372 when missing, SM2373 when a volume is in use read-write, SM2374 beyond
    /// <paramref name="slots"/>.
    /// </summary>
    public static GuestStorage Prepare(string owner, IReadOnlyList<StorageSpec> specs, string? volumeDirectory, int slots, int volumeMiB = VmMachineSpec.DefaultDiskMiB)
    {
        if (specs.Count == 0)
        {
            return None;
        }
        if (specs.Count > slots)
        {
            throw Errors.TooManyAttachments(owner, specs.Count, slots);
        }
        StorageSpec.CheckTargets(owner, specs);
        // A mount inside another one must come after it, as Docker orders them.
        specs = [.. specs.OrderBy(s => s.GuestPath.Count(c => c == '/'))];
        CacheLayout cache = CacheLayout.At(null);
        var attachments = new List<VmAttachment>();
        var mounts = new List<GuestMount>();
        var locks = new List<FileStream>();
        try
        {
            foreach (StorageSpec spec in specs)
            {
                string id = "sm-r" + attachments.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
                if (spec.Kind == StorageKind.HostDirectory)
                {
                    if (!Directory.Exists(spec.Source))
                    {
                        throw Errors.HostDirectoryMissing(owner, spec, spec.Source);
                    }
                    attachments.Add(new VmAttachment { Kind = VmAttachmentKind.Share, Id = id, HostPath = spec.Source, ReadOnly = spec.ReadOnly });
                    mounts.Add(new GuestMount(id, "9p", spec.GuestPath, spec.ReadOnly, Fresh: false, $"the host directory '{spec.Source}'"));
                    continue;
                }
                string file = Path.Combine(Path.GetFullPath(volumeDirectory ?? cache.Volumes), spec.Source + ".ext4");
                string lockFile = Path.Combine(cache.Locks, "volume-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(file)))[..32] + ".lock");
                FileStream held = FileLock.TryAcquire(lockFile) ?? throw Errors.VolumeInUse(spec.Source, file, lockFile);
                if (spec.ReadOnly)
                {
                    // Readers may share it; only a writer is kept out (by QEMU's own image lock from here on).
                    held.Dispose();
                }
                else
                {
                    locks.Add(held);
                }
                bool fresh = !File.Exists(file);
                if (fresh)
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(file)!);
                    string temporary = file + ".new";
                    File.Delete(temporary);
                    QemuDisk.Format(temporary, volumeMiB);
                    File.Move(temporary, file);
                }
                attachments.Add(new VmAttachment { Kind = VmAttachmentKind.Disk, Id = id, HostPath = file, ReadOnly = spec.ReadOnly });
                mounts.Add(new GuestMount(id, "ext4", spec.GuestPath, spec.ReadOnly, fresh && !spec.ReadOnly, $"the volume '{spec.Source}'"));
            }
        }
        catch
        {
            locks.ForEach(l => l.Dispose());
            throw;
        }
        return new GuestStorage(attachments, mounts, locks);
    }

    /// <summary>Plugs the attachments into the running <paramref name="guest"/> and mounts them.</summary>
    public async Task AttachAsync(GuestInstance guest, CancellationToken cancellationToken)
    {
        if (Attachments.Count == 0)
        {
            return;
        }
        await guest.Machine.PlugAttachmentsAsync(cancellationToken).ConfigureAwait(false);
        await MountAsync(guest.Agent, Mounts, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Has the agent mount <paramref name="mounts"/>, in order (a later one may sit inside an earlier one).</summary>
    public static async Task MountAsync(AgentConnection agent, IReadOnlyList<GuestMount> mounts, CancellationToken cancellationToken)
    {
        foreach (GuestMount mount in mounts)
        {
            await agent.MountAsync(mount, DeviceTimeout, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Hands the locks to a new owner (the started VM) so that disposing this one, on the way out
    /// of a start that succeeded, releases nothing; a failed start disposes this one and so unlocks.
    /// </summary>
    public GuestStorage Keep()
    {
        if (_locks.Count == 0)
        {
            return this;
        }
        var kept = new GuestStorage(Attachments, Mounts, [.. _locks]);
        _locks.Clear();
        return kept;
    }

    public void Dispose()
    {
        _locks.ForEach(l => l.Dispose());
        _locks.Clear();
    }
}
