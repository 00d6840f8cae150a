using Supermachine.Vmm;

namespace Supermachine;

/// <summary>How <see cref="MicroVm.StartAsync(MicroVmImage, MicroVmOptions?, CancellationToken)"/> starts a guest. Every property has a default that suits tests.</summary>
public sealed class MicroVmOptions
{
    /// <summary>Guest memory for a cold boot; a restore always has its snapshot's. Default: the image's, else 256.</summary>
    public int? MemoryMiB { get; init; }

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

    /// <summary>Host files to put into the guest: before the workload starts on a cold boot, right after a restore otherwise.</summary>
    public IReadOnlyList<MicroVmFile> Files { get; init; } = [];

    /// <summary>The engine; null uses the shared QEMU engine.</summary>
    internal IVmBackend? Backend { get; init; }

    /// <summary>Receives one-line notes: the accelerator chosen and why, restore or boot, timings.</summary>
    public Action<string>? Log { get; init; }
}
