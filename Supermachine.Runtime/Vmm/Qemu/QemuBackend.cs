using System.Diagnostics;
using System.Globalization;
using Supermachine.Diagnostics;
using Supermachine.FileSystem;
using Supermachine.Vmm.ProcessLifetime;

namespace Supermachine.Vmm.Qemu;

/// <summary>Options of the QEMU engine.</summary>
internal sealed record QemuBackendOptions
{
    /// <summary>The QEMU binary for the host's guests; null finds it (SUPERMACHINE_QEMU, PATH). Other guests use its qemu-system-ARCH sibling.</summary>
    public string? QemuPath { get; init; }

    /// <summary>Where per-VM runtime directories are made when a spec has none; null is the temp directory.</summary>
    public string? RuntimeRoot { get; init; }

    /// <summary>How long QEMU may take to open its control socket.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Receives one-line engine notes (accelerator choice and reason, owner-watch status).</summary>
    public Action<string>? Log { get; init; }

    /// <summary>
    /// For the network benchmark alone: QEMU's built-in slirp as the NAT instead of passt, same
    /// guest identity and device. Never in the product: slirp maps its gateway to the host's
    /// loopback, which the NAT must hide.
    /// </summary>
    public bool SlirpNatForBenchmark { get; init; }
}

/// <summary>
/// The QEMU engine: cold boots and restores, each VM its own QEMU process in its own private
/// runtime directory, driven over QMP. Thread-safe; any number of VMs at once.
/// </summary>
internal sealed class QemuBackend : IVmBackend
{
    private readonly QemuBackendOptions _options;
    private readonly ConcurrentCache<string, string> _qemuPaths = new();
    private readonly ConcurrentCache<string, string> _loggedChoices = new();

    public QemuBackend(QemuBackendOptions? options = null)
    {
        _options = options ?? new QemuBackendOptions();
    }

    public string Name => "qemu";

    /// <summary>The version (e.g. 7.2.22) of the QEMU for the host's guests; finding QEMU may throw SM3101.</summary>
    public string Version => GetVersion(GuestArchitecture.Host);

    public string GetVersion(GuestArchitecture architecture) => QemuLocator.GetVersion(QemuPathFor(architecture));

    /// <summary>How long QEMU may take to start and, for a restore, to load the state.</summary>
    public TimeSpan StartTimeout => _options.StartTimeout;

    /// <summary>The QEMU binary for the host's guests; finding it may throw SM3101/SM3102.</summary>
    public string QemuPath => QemuPathFor(GuestArchitecture.Host);

    /// <summary>qemu-system-ARCH for <paramref name="architecture"/> guests; finding it may throw SM3101/SM3102.</summary>
    public string QemuPathFor(GuestArchitecture architecture) => _qemuPaths.GetOrAdd(architecture.QemuName, arch =>
        _options.QemuPath is not string configured ? QemuLocator.Locate(arch)
        : QemuLocator.SiblingFor(configured, arch) is string sibling ? (File.Exists(sibling) ? sibling : QemuLocator.Locate(arch))
        : configured);

    public AcceleratorChoice ChooseAccelerator(Accelerator? requested = null, GuestArchitecture? architecture = null)
    {
        GuestArchitecture guest = architecture ?? GuestArchitecture.Host;
        string qemu = QemuPathFor(guest);
        AcceleratorChoice choice = AcceleratorProbe.Choose(qemu, requested, guest);
        bool first = false;
        _loggedChoices.GetOrAdd(guest.Name, _ =>
        {
            first = true;
            return choice.ToString();
        });
        if (first)
        {
            _options.Log?.Invoke($"qemu-system-{guest.QemuName} {GetVersion(guest)}: accelerator {choice}; {OwnerWatch.Describe()}");
        }
        return choice;
    }

    public async Task<IVirtualMachine> StartAsync(VmMachineSpec machine, CancellationToken cancellationToken = default)
    {
        AcceleratorChoice accelerator = ChooseAccelerator(machine.Accelerator, machine.Architecture);
        (string runtimeDirectory, bool owned) = PrepareRuntimeDirectory(machine);
        bool mapped = machine.Snapshottable && machine.SnapshotMode == VmSnapshotMode.MappedRam;
        var launch = new QemuLaunch
        {
            Spec = machine,
            Accelerator = accelerator.Accelerator,
            RuntimeDirectory = runtimeDirectory,
            KernelArguments = QemuCommandLine.KernelArguments(machine.Architecture, machine.Nat ? $"{Network.PasstNat.KernelArgument} {machine.KernelArguments}" : machine.KernelArguments),
            Nat = machine.Nat,
            MemoryMiB = machine.MemoryMiB,
            Vcpus = machine.Vcpus,
            Ram = mapped ? RamBacking.SharedFile : RamBacking.Anonymous,
            RamFile = mapped ? Path.Combine(runtimeDirectory, "ram") : null,
            DiskFile = machine.DiskMiB > 0 ? Path.Combine(runtimeDirectory, QemuDisk.RawFile) : null,
            DiskMiB = machine.DiskMiB,
            HotplugSlots = machine.HotplugSlots,
            Volumes = machine.BakedVolumes,
            VolumeFiles = [.. machine.BakedVolumes.Select((_, i) => Path.Combine(runtimeDirectory, QemuDisk.VolumeRawFile(i)))],
            Attachments = machine.Attachments,
        };
        try
        {
            // A caller's runtime directory may hold an earlier VM's disks.
            if (launch.DiskFile is string disk)
            {
                File.Delete(disk);
                QemuDisk.Format(disk, machine.DiskMiB);
            }
            for (int i = 0; i < launch.Volumes.Count; i++)
            {
                File.Delete(launch.VolumeFiles[i]);
                QemuDisk.Format(launch.VolumeFiles[i], launch.Volumes[i].SizeMiB);
            }
        }
        catch
        {
            Cleanup(runtimeDirectory, owned);
            throw;
        }
        return await LaunchAsync(launch, accelerator, owned, cancellationToken).ConfigureAwait(false);
    }

    public Task<IVirtualMachine> RestoreAsync(VmMachineSpec machine, string snapshotDirectory, CancellationToken cancellationToken = default) =>
        QemuSnapshot.RestoreAsync(this, machine, snapshotDirectory, cancellationToken);

    public async Task<IPreparedRestore> PrepareRestoreAsync(VmMachineSpec machine, string snapshotDirectory, CancellationToken cancellationToken = default) =>
        await QemuSnapshot.PrepareAsync(this, machine, snapshotDirectory, Stopwatch.StartNew(), cancellationToken).ConfigureAwait(false);

    public VmSnapshotInfo ReadSnapshot(string snapshotDirectory) => QemuSnapshot.Read(snapshotDirectory);

    public SnapshotMismatch? FindMismatch(VmSnapshotInfo snapshot, Accelerator? requested = null, GuestArchitecture? expected = null) =>
        QemuSnapshot.FindMismatch(this, snapshot, requested, expected);

    /// <summary>Starts QEMU for <paramref name="launch"/> and connects QMP; the guest runs unless the launch is incoming.</summary>
    internal async Task<QemuMachine> LaunchAsync(QemuLaunch launch, AcceleratorChoice accelerator, bool ownsRuntimeDirectory, CancellationToken cancellationToken, Stopwatch? clock = null)
    {
        clock ??= Stopwatch.StartNew();
        foreach (string input in new[] { launch.Spec.KernelPath, launch.Spec.InitrdPath, launch.Spec.RootfsPath })
        {
            if (!File.Exists(input))
            {
                Cleanup(launch.RuntimeDirectory, ownsRuntimeDirectory);
                throw new FileNotFoundException($"The VM input '{input}' does not exist.", input);
            }
        }
        Network.PasstNat? nat = null;
        Process process;
        try
        {
            if (launch.Nat && _options.SlirpNatForBenchmark)
            {
                launch = launch with { NatSocket = QemuCommandLine.Slirp };
            }
            else if (launch.Nat)
            {
                nat = await Network.PasstNat.StartAsync(cancellationToken).ConfigureAwait(false);
                launch = launch with { NatSocket = nat.SocketPath };
            }
            process = OwnerWatch.Start(QemuPathFor(launch.Spec.Architecture), QemuCommandLine.Build(launch), launch.RuntimeDirectory);
        }
        catch (Exception e)
        {
            nat?.Dispose();
            Cleanup(launch.RuntimeDirectory, ownsRuntimeDirectory);
            if (e is System.ComponentModel.Win32Exception or InvalidOperationException)
            {
                string qemu = QemuPathFor(launch.Spec.Architecture);
                throw Errors.QemuPathInvalid(qemu, Path.GetFileName(qemu), cause: e);
            }
            throw;
        }
        var vm = new QemuMachine(process, launch, accelerator, GetVersion(launch.Spec.Architecture), ownsRuntimeDirectory, nat) { QemuPath = QemuPathFor(launch.Spec.Architecture) };
        vm.Mark("qemu-started", clock.Elapsed);
        try
        {
            await vm.ConnectControlAsync(_options.StartTimeout, cancellationToken).ConfigureAwait(false);
            vm.Mark("control-connected", clock.Elapsed);
            return vm;
        }
        catch
        {
            await vm.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The spec's runtime directory (made 0700) or a fresh private one under the temp directory.</summary>
    internal (string Path, bool Owned) PrepareRuntimeDirectory(VmMachineSpec machine)
    {
        const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        string path;
        bool owned;
        try
        {
            if (machine.RuntimeDirectory is string given)
            {
                path = Path.GetFullPath(given);
                owned = false;
                if (OperatingSystem.IsWindows())
                {
                    Directory.CreateDirectory(path);
                }
                else
                {
                    Directory.CreateDirectory(path, Private);
                    File.SetUnixFileMode(path, Private);
                }
            }
            else
            {
                // Short names (unix socket paths must stay under ~100 bytes) that carry the owner, so a
                // later run removes those of a killed one (a RAM file makes them up to the VM's size).
                string root = Path.GetFullPath(_options.RuntimeRoot ?? Path.GetTempPath());
                ScratchFiles.DeleteOrphansOnce(root, RuntimeDirectoryKind);
                path = Path.Combine(root, ScratchFiles.Name(RuntimeDirectoryKind, Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4))));
                if (OperatingSystem.IsWindows())
                {
                    Directory.CreateDirectory(path);
                }
                else
                {
                    Directory.CreateDirectory(path, Private);
                    File.SetUnixFileMode(path, Private);
                }
                owned = true;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Errors.RuntimeDirectoryUnusable(machine.RuntimeDirectory ?? _options.RuntimeRoot ?? Path.GetTempPath(), e.Message, cause: e);
        }
        if (UnixSocketPaths.TooLong(path, ["agent.sock", "qmp.sock"], UnixSocketPaths.CurrentLimit) is string tooLong)
        {
            throw Errors.RuntimeDirectoryUnusable(path, tooLong);
        }
        return (path, owned);
    }

    /// <summary>The scratch kind of the runtime directories this backend makes: sm-PID_START-HEX.</summary>
    internal const string RuntimeDirectoryKind = "sm";

    internal static void Cleanup(string runtimeDirectory, bool owned)
    {
        if (!owned)
        {
            return;
        }
        try
        {
            Directory.Delete(runtimeDirectory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    internal static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture);
}
