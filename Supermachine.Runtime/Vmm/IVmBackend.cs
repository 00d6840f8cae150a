namespace Supermachine.Vmm;

/// <summary>
/// An engine that runs guests: QEMU today, a native KVM/HVF/WHP backend later. Kept narrow on
/// purpose so another engine can slot in: start a machine cold, restore one from a snapshot.
/// Everything above it (agent protocol, MicroVm, bake) talks only to this and to
/// <see cref="IVirtualMachine"/>.
/// </summary>
internal interface IVmBackend
{
    /// <summary>Engine name recorded in snapshot manifests, e.g. "qemu".</summary>
    string Name { get; }

    /// <summary>Engine version recorded in snapshot manifests; a restore on another version is refused.</summary>
    string Version { get; }

    /// <summary>The version of the engine that runs <paramref name="architecture"/> guests (QEMU has one binary per architecture).</summary>
    string GetVersion(GuestArchitecture architecture);

    /// <summary>Boots <paramref name="machine"/> from its kernel and initramfs.</summary>
    Task<IVirtualMachine> StartAsync(VmMachineSpec machine, CancellationToken cancellationToken = default);

    /// <summary>
    /// Brings back a machine saved by <see cref="IVirtualMachine.SaveSnapshotAsync"/>, running. The
    /// kernel, initramfs and rootfs of <paramref name="machine"/> must be the ones the snapshot was
    /// made with; memory size, vCPUs and kernel arguments come from the snapshot. The snapshot's files
    /// are only read, never written, so any number of restores may share them.
    /// </summary>
    Task<IVirtualMachine> RestoreAsync(VmMachineSpec machine, string snapshotDirectory, CancellationToken cancellationToken = default);

    /// <summary>
    /// Does all of a restore that does not depend on the moment of use (engine process start, RAM
    /// mapping, control channel) and returns a handle whose <see cref="IPreparedRestore.CompleteAsync"/>
    /// loads the state and starts the guest. A pool keeps a few of these ready.
    /// </summary>
    Task<IPreparedRestore> PrepareRestoreAsync(VmMachineSpec machine, string snapshotDirectory, CancellationToken cancellationToken = default);

    /// <summary>
    /// The accelerator this backend would use for <paramref name="requested"/> (null = measure) and
    /// a guest of <paramref name="architecture"/> (null = the host's), with the reason. A foreign
    /// guest is always emulated (TCG); asking for a hypervisor for one is SM3111.
    /// </summary>
    AcceleratorChoice ChooseAccelerator(Accelerator? requested = null, GuestArchitecture? architecture = null);

    /// <summary>Reads the engine's description of the snapshot in <paramref name="snapshotDirectory"/> (SM3201 when it is missing or unreadable).</summary>
    VmSnapshotInfo ReadSnapshot(string snapshotDirectory);

    /// <summary>
    /// The one compatibility check of a snapshot against this host: the first fact (format, guest
    /// architecture when <paramref name="expected"/> is given, engine, engine version, CPU model,
    /// machine type, accelerator) that differs, or null when <paramref name="snapshot"/> restores
    /// here. A restore refuses a mismatch (SM3202); a bake treats it as a bake from elsewhere and
    /// bakes again (SM4001).
    /// </summary>
    SnapshotMismatch? FindMismatch(VmSnapshotInfo snapshot, Accelerator? requested = null, GuestArchitecture? expected = null);
}

/// <summary>A fact of a snapshot that differs on this host: what it is, the snapshot's value and ours.</summary>
internal sealed record SnapshotMismatch(string What, string Theirs, string Ours)
{
    public override string ToString() => $"{What} '{Theirs}' (here '{Ours}')";
}

/// <summary>A restore waiting to be completed; disposing it without completing stops the engine process.</summary>
internal interface IPreparedRestore : IAsyncDisposable
{
    /// <summary>Loads the snapshot's state and starts the guest. At most once.</summary>
    Task<IVirtualMachine> CompleteAsync(CancellationToken cancellationToken = default);
}

/// <summary>How guest RAM goes into a snapshot.</summary>
internal enum VmSnapshotMode
{
    /// <summary>
    /// Guest RAM lives in a file (shared mapping) while the source runs; the snapshot keeps that file
    /// (zero pages as holes) and a small device-state file. A restore maps the RAM file privately,
    /// copy-on-write, so nothing is copied up front and concurrent restores share its pages.
    /// </summary>
    MappedRam,

    /// <summary>Classic migration stream holding all of RAM; loaded (copied) on every restore.</summary>
    Migration,
}

/// <summary>
/// What an engine wrote into a snapshot directory: the facts a manifest records and a restore
/// checks. <see cref="Files"/> are relative to the snapshot directory.
/// </summary>
internal sealed record VmSnapshotInfo
{
    /// <summary>Version of the engine's snapshot layout; a restore refuses other versions.</summary>
    public required int FormatVersion { get; init; }

    /// <summary>The guest's architecture (OCI's name); snapshots from before it was recorded are amd64.</summary>
    public string Architecture { get; init; } = GuestArchitecture.Amd64.Name;

    public required string Engine { get; init; }

    public required string EngineVersion { get; init; }

    public required Accelerator Accelerator { get; init; }

    public required string CpuModel { get; init; }

    public required string MachineType { get; init; }

    public required int MemoryMiB { get; init; }

    public required int Vcpus { get; init; }

    public required string KernelArguments { get; init; }

    public required VmSnapshotMode Mode { get; init; }

    /// <summary>The machine had a NIC behind a user-mode NAT; a restore gets one too (the device set must match).</summary>
    public bool Nat { get; init; }

    /// <summary>
    /// Size of the writable disk the snapshot carries (its overlay upper, /dev/vdb), 0 when it has
    /// none (a snapshot from before disks, or a machine without one). A restore attaches a
    /// copy-on-write view of it: the devices must be the ones the state was saved with.
    /// </summary>
    public int DiskMiB { get; init; }

    /// <summary>Hot-plug slots the machine has (a restore recreates them; 0 for snapshots from before them, which take no attachments).</summary>
    public int HotplugSlots { get; init; }

    /// <summary>The bake-time volumes the snapshot carries, in device order; each is a compact qcow2 file named by <c>VolumeFile(index)</c> of the engine.</summary>
    public IReadOnlyList<VmBakedVolume> Volumes { get; init; } = [];

    /// <summary>Files of the snapshot, relative names (e.g. "vmstate", "ram"), the engine's description file included.</summary>
    public required IReadOnlyList<string> Files { get; init; }
}

/// <summary>What a guest machine is made of. All paths are absolute on the host.</summary>
internal sealed record VmMachineSpec
{
    /// <summary>The guest's instruction set: the kernel, initramfs and rootfs must be built for it.</summary>
    public GuestArchitecture Architecture { get; init; } = GuestArchitecture.Host;

    public required string KernelPath { get; init; }

    public required string InitrdPath { get; init; }

    /// <summary>Extra kernel command-line arguments after the engine's own (console and the like).</summary>
    public string KernelArguments { get; init; } = "";

    /// <summary>The root filesystem image, attached read-only as the first virtio disk (/dev/vda).</summary>
    public required string RootfsPath { get; init; }

    public int MemoryMiB { get; init; } = 256;

    public int Vcpus { get; init; } = 1;

    /// <summary>
    /// Size of the writable disk (a sparse ext4 file system attached as the second virtio disk,
    /// /dev/vdb) that holds the overlay upper; 0 keeps the upper in guest RAM (tmpfs). A restore
    /// ignores it: the snapshot's disk comes back with its RAM.
    /// </summary>
    public int DiskMiB { get; init; } = DefaultDiskMiB;

    /// <summary>The writable disk every VM gets unless told otherwise: 8 GiB, sparse, so it costs nothing until written.</summary>
    public const int DefaultDiskMiB = 8192;

    /// <summary>Bake-time volumes, formatted fresh for a cold boot and carried by its snapshot; a restore has its snapshot's.</summary>
    public IReadOnlyList<VmBakedVolume> BakedVolumes { get; init; } = [];

    /// <summary>Run-time volumes and host directories; at most <see cref="HotplugSlots"/> (of the snapshot, for a restore).</summary>
    public IReadOnlyList<VmAttachment> Attachments { get; init; } = [];

    /// <summary>
    /// PCIe slots left empty at a cold boot for <see cref="Attachments"/> plugged in later: a restore
    /// cannot add a slot (the device set must be the snapshot's), only fill one.
    /// </summary>
    public int HotplugSlots { get; init; } = DefaultHotplugSlots;

    /// <summary>Slots every cold-booted VM gets.</summary>
    public const int DefaultHotplugSlots = 4;

    /// <summary>Accelerator to use; null means measure and pick (SUPERMACHINE_ACCELERATOR overrides).</summary>
    public Accelerator? Accelerator { get; init; }

    /// <summary>
    /// Private per-VM directory (mode 0700) for sockets, logs and RAM files. Created by the caller;
    /// null lets the backend create one under the temp directory and remove it on dispose.
    /// </summary>
    public string? RuntimeDirectory { get; init; }

    /// <summary>
    /// Boot so that <see cref="IVirtualMachine.SaveSnapshotAsync"/> makes a fast-restoring snapshot
    /// (<see cref="SnapshotMode"/>). Any machine can be saved; without this the snapshot is a full
    /// <see cref="VmSnapshotMode.Migration"/> stream.
    /// </summary>
    public bool Snapshottable { get; init; }

    /// <summary>
    /// A virtio-net NIC behind the engine's own user-mode NAT (outbound TCP/UDP and DNS, the host's
    /// loopback hidden). The engine adds the guest's network identity to the kernel arguments.
    /// Without it the guest has no NIC (--network none).
    /// </summary>
    public bool Nat { get; init; }

    /// <summary>
    /// The private network's switch (a unix datagram socket) the second NIC sends to; null leaves
    /// that NIC without a peer. Every <see cref="Nat"/> machine has the second NIC, so one snapshot
    /// restores onto any private network, or none.
    /// </summary>
    public string? PrivateSwitch { get; init; }

    /// <summary>The snapshot layout a <see cref="Snapshottable"/> machine is prepared for.</summary>
    public VmSnapshotMode SnapshotMode { get; init; } = VmSnapshotMode.MappedRam;
}

/// <summary>A running guest. Disposing it stops the guest (gracefully if it can, then forced).</summary>
internal interface IVirtualMachine : IAsyncDisposable
{
    /// <summary>The accelerator in use.</summary>
    Accelerator Accelerator { get; }

    /// <summary>Why <see cref="Accelerator"/> was chosen (for a log line).</summary>
    string AcceleratorReason { get; }

    /// <summary>The named CPU model the guest sees; fixed so snapshots move between hosts.</summary>
    string CpuModel { get; }

    /// <summary>The private (0700) per-VM directory holding sockets, console log and RAM file.</summary>
    string RuntimeDirectory { get; }

    /// <summary>
    /// The last <paramref name="maxBytes"/> bytes of the console, decoded leniently with control
    /// characters replaced: guest output is untrusted data, safe to print, never to interpret.
    /// </summary>
    string ReadConsoleTail(int maxBytes = 8192);

    /// <summary>
    /// Waits until <paramref name="marker"/> appears on the console. Throws an SM31xx error with the
    /// console tail when the kernel panics, the engine exits or <paramref name="timeout"/> passes.
    /// </summary>
    Task WaitForConsoleAsync(string marker, TimeSpan timeout, CancellationToken cancellationToken = default);

    /// <summary>
    /// The SM31xx error that explains why the guest did not get to <paramref name="waitingFor"/>
    /// (kernel panic, engine exit, or a plain timeout after <paramref name="waited"/>), with the
    /// console tail. For callers that wait on something else (the agent's hello) and time out.
    /// </summary>
    SupermachineException DiagnoseFailure(string waitingFor, TimeSpan waited);

    /// <summary>The guest serial console, captured to a file; its tail goes into every boot error.</summary>
    string ConsoleLogPath { get; }

    /// <summary>
    /// A byte stream to the guest's virtio-serial port named "sm.agent" (the agent channel). It may
    /// be called again after a restore to reconnect.
    /// </summary>
    Task<Stream> ConnectAgentAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Pauses the guest and writes its full state into <paramref name="directory"/> (engine-specific
    /// files, relative names only; the directory may then be moved). The guest stays paused:
    /// <see cref="ResumeAsync"/> continues it, disposing discards it.
    /// </summary>
    Task<VmSnapshotInfo> SaveSnapshotAsync(string directory, CancellationToken cancellationToken = default);

    /// <summary>
    /// Plugs the devices of the machine's <see cref="VmMachineSpec.Attachments"/> into its hot-plug
    /// slots, once the guest runs; the guest then mounts them (the agent's MOUNT).
    /// </summary>
    Task PlugAttachmentsAsync(CancellationToken cancellationToken = default);

    /// <summary>Continues a guest paused by <see cref="SaveSnapshotAsync"/>.</summary>
    Task ResumeAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Stops the guest: an ACPI power-button press and up to <paramref name="gracePeriod"/> for it to
    /// power off (skipped when zero), then QEMU's own quit, then a kill. Idempotent.
    /// </summary>
    Task StopAsync(TimeSpan gracePeriod, CancellationToken cancellationToken = default);

    /// <summary>Completes when the engine process exits, with its exit code.</summary>
    Task<int> WaitForExitAsync(CancellationToken cancellationToken = default);

    /// <summary>Stops the engine at once (no graceful shutdown).</summary>
    Task KillAsync();
}
