namespace Supermachine.Vmm;

/// <summary>
/// An engine that runs guests: QEMU today, a native KVM/HVF/WHP backend later. Kept narrow on
/// purpose so another engine can slot in: start a machine cold, restore one from a snapshot.
/// Everything above it (agent protocol, MicroVm, bake) talks only to this and to
/// <see cref="IVirtualMachine"/>.
/// </summary>
public interface IVmBackend
{
    /// <summary>Engine name recorded in snapshot manifests, e.g. "qemu".</summary>
    string Name { get; }

    /// <summary>Engine version recorded in snapshot manifests; a restore on another version is refused.</summary>
    string Version { get; }

    /// <summary>Boots <paramref name="machine"/> from its kernel and initramfs.</summary>
    Task<IVirtualMachine> StartAsync(VmMachineSpec machine, CancellationToken cancellationToken = default);

    /// <summary>Brings back a machine saved by <see cref="IVirtualMachine.SaveSnapshotAsync"/>, running.</summary>
    Task<IVirtualMachine> RestoreAsync(VmMachineSpec machine, string snapshotDirectory, CancellationToken cancellationToken = default);
}

/// <summary>Hardware accelerators an engine can use; chosen by measurement unless overridden.</summary>
public enum Accelerator
{
    Kvm,
    Hvf,
    Whpx,
    Tcg,
}

/// <summary>What a guest machine is made of. All paths are absolute on the host.</summary>
public sealed record VmMachineSpec
{
    public required string KernelPath { get; init; }

    public required string InitrdPath { get; init; }

    /// <summary>Extra kernel command-line arguments after the engine's own (console and the like).</summary>
    public string KernelArguments { get; init; } = "";

    /// <summary>The root filesystem image, attached read-only as the first virtio disk (/dev/vda).</summary>
    public required string RootfsPath { get; init; }

    public int MemoryMiB { get; init; } = 256;

    public int Vcpus { get; init; } = 1;

    /// <summary>Accelerator to use; null means measure and pick (SUPERMACHINE_ACCELERATOR overrides).</summary>
    public Accelerator? Accelerator { get; init; }

    /// <summary>
    /// Private per-VM directory (mode 0700) for sockets, logs and RAM files. Created by the caller;
    /// null lets the backend create one under the temp directory and remove it on dispose.
    /// </summary>
    public string? RuntimeDirectory { get; init; }

    /// <summary>Boot so that <see cref="IVirtualMachine.SaveSnapshotAsync"/> works (e.g. file-backed guest RAM).</summary>
    public bool Snapshottable { get; init; }
}

/// <summary>A running guest. Disposing it stops the guest (gracefully if it can, then forced).</summary>
public interface IVirtualMachine : IAsyncDisposable
{
    /// <summary>The accelerator in use, with the reason it was chosen.</summary>
    Accelerator Accelerator { get; }

    /// <summary>The guest serial console, captured to a file; its tail goes into every boot error.</summary>
    string ConsoleLogPath { get; }

    /// <summary>
    /// A byte stream to the guest's virtio-serial port named "sm.agent" (the agent channel). It may
    /// be called again after a restore to reconnect.
    /// </summary>
    Task<Stream> ConnectAgentAsync(CancellationToken cancellationToken = default);

    /// <summary>Pauses the guest and writes its full state into <paramref name="directory"/> (engine-specific files, relative names only).</summary>
    Task SaveSnapshotAsync(string directory, CancellationToken cancellationToken = default);

    /// <summary>Completes when the engine process exits, with its exit code.</summary>
    Task<int> WaitForExitAsync(CancellationToken cancellationToken = default);

    /// <summary>Stops the engine at once (no graceful shutdown).</summary>
    Task KillAsync();
}
