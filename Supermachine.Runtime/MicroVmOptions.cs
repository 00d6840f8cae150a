using Microsoft.Extensions.Logging;
using Supermachine.Vmm;

namespace Supermachine;

/// <summary>How <see cref="MicroVm.StartAsync(MicroVmImage, MicroVmOptions?, CancellationToken)"/> starts a guest. Every property has a default that suits tests.</summary>
public sealed class MicroVmOptions
{
    /// <summary>Guest memory for a cold boot; a restore always has its snapshot's. Default: the image's, else 256.</summary>
    public int? MemoryMiB { get; init; }

    /// <summary>
    /// Size of the writable disk (the overlay upper: every write the guest makes outside volumes)
    /// for a cold boot; sparse, so it costs host disk only as the guest writes. A restore has its
    /// snapshot's. Default: the image's, else 8192.
    /// </summary>
    public int? DiskMiB { get; init; }

    /// <summary>vCPUs for a cold boot; a restore has its snapshot's. Default: the image's, else 1.</summary>
    public int? Vcpus { get; init; }

    /// <summary>Accelerator to use; null measures (SUPERMACHINE_ACCELERATOR overrides).</summary>
    public Accelerator? Accelerator { get; init; }

    /// <summary>Boot from the root filesystem even when the image has a snapshot.</summary>
    public bool ColdBoot { get; init; }

    /// <summary>How long a start may take, including a cold boot under emulation and waiting for the port.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromMinutes(3);

    /// <summary>Hash the image's files against its manifest before the first start in this process.</summary>
    public bool VerifyIntegrity { get; init; } = true;

    /// <summary>
    /// The guest network: null for the image's own (a NIC behind a user-mode NAT unless the image
    /// was baked with "none"), <see cref="MicroVmNetwork.None"/> ("none") for no NIC, or a named
    /// private network ("backend", <see cref="MicroVmNetwork.Named"/>) that VMs in any process of
    /// this user join to reach each other by <see cref="Aliases"/>, keeping the NAT. A snapshot
    /// baked with "none" restores only with "none" and the other way round (SM3062); a snapshot
    /// with the NAT restores onto any private network.
    /// </summary>
    public MicroVmNetwork? Network { get; init; }

    /// <summary>Names the other members of <see cref="Network"/> reach this VM by (hostnames; each unique on the network, SM2360).</summary>
    public IReadOnlyList<string> Aliases { get; init; } = [];

    /// <summary>
    /// Host ports the guest may reach as host.supermachine.internal:P (host 127.0.0.1:P). Every
    /// other host loopback port stays unreachable from the guest, by any address.
    /// </summary>
    public IReadOnlyList<int>? HostPorts { get; init; }

    /// <summary>Host files to put into the guest: before the workload starts on a cold boot, right after a restore otherwise.</summary>
    public IReadOnlyList<MicroVmFile> Files { get; init; } = [];

    /// <summary>
    /// Named volumes, "NAME:/guest/path[:ro]" (as -v): ext4 disks under <see cref="VolumeDirectory"/>
    /// that live across runs, made empty on first use and mounted after the start or restore. A
    /// volume is attached read-write to one running VM at a time (SM2373 otherwise).
    /// </summary>
    public IReadOnlyList<string> Volumes { get; init; } = [];

    /// <summary>
    /// Host directories, "/abs/host/dir:/guest/path[:ro]" (as -v), shared into the guest after the
    /// start or restore, on top of the image's Mounts; never part of a snapshot. ":ro" is enforced
    /// by the host, and nothing outside the directory is reachable through it.
    /// </summary>
    public IReadOnlyList<string> Mounts { get; init; } = [];

    /// <summary>Where named volumes live; null: the cache's "volumes" folder (SUPERMACHINE_CACHE).</summary>
    public string? VolumeDirectory { get; init; }

    /// <summary>The engine; null uses the shared QEMU engine.</summary>
    internal IVmBackend? Backend { get; init; }

    /// <summary>
    /// Receives the start's notes at Information (restore or boot, the accelerator and why, the time
    /// it took) and a slow workload's hints at Warning. Null logs nothing.
    /// </summary>
    public ILogger? Logger { get; init; }

    /// <summary>Receives coded warnings ("SM4xxx: ..."), e.g. a foreign guest that is emulated; null sends them to <see cref="Logger"/>.</summary>
    internal Action<string>? Warning { get; init; }

    /// <summary>Reports a coded warning to <see cref="Warning"/>, else to <see cref="Logger"/> at Warning level.</summary>
    internal void Warn(string warning)
    {
        if (Warning is not null)
        {
            Warning(warning);
        }
        else
        {
            Logger?.LogWarning("{Warning}", warning);
        }
    }
}
