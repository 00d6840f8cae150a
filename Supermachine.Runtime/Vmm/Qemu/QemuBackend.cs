using System.Diagnostics;
using System.Globalization;
using Supermachine.Diagnostics;
using Supermachine.FileSystem;
using Supermachine.Vmm.ProcessLifetime;

namespace Supermachine.Vmm.Qemu;

/// <summary>Options of the QEMU engine.</summary>
internal sealed record QemuBackendOptions
{
    /// <summary>The QEMU binary; null finds it (SUPERMACHINE_QEMU, PATH).</summary>
    public string? QemuPath { get; init; }

    /// <summary>Where per-VM runtime directories are made when a spec has none; null is the temp directory.</summary>
    public string? RuntimeRoot { get; init; }

    /// <summary>How long QEMU may take to open its control socket.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Receives one-line engine notes (accelerator choice and reason, owner-watch status).</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>
/// The QEMU engine: cold boots and restores, each VM its own QEMU process in its own private
/// runtime directory, driven over QMP. Thread-safe; any number of VMs at once.
/// </summary>
internal sealed class QemuBackend : IVmBackend
{
    private readonly QemuBackendOptions _options;
    private readonly Lazy<string> _qemuPath;
    private int _loggedChoice;

    public QemuBackend(QemuBackendOptions? options = null)
    {
        _options = options ?? new QemuBackendOptions();
        _qemuPath = new Lazy<string>(() => _options.QemuPath ?? QemuLocator.Locate());
    }

    /// <summary>The named CPU model every guest gets (recorded in snapshots).</summary>
    public const string CpuModel = QemuCommandLine.CpuModel;

    /// <summary>The QEMU machine type every guest gets.</summary>
    public const string MachineType = QemuCommandLine.MachineType;

    /// <summary>Kernel arguments the engine always passes before the caller's.</summary>
    public const string BaseKernelArguments = QemuCommandLine.BaseKernelArguments;

    public string Name => "qemu";

    /// <summary>QEMU's version (e.g. 7.2.22); finding QEMU may throw SM3101.</summary>
    public string Version => QemuLocator.GetVersion(QemuPath);

    /// <summary>How long QEMU may take to start and, for a restore, to load the state.</summary>
    public TimeSpan StartTimeout => _options.StartTimeout;

    /// <summary>The QEMU binary in use; finding it may throw SM3101/SM3102.</summary>
    public string QemuPath => _qemuPath.Value;

    public AcceleratorChoice ChooseAccelerator(Accelerator? requested = null)
    {
        AcceleratorChoice choice = AcceleratorProbe.Choose(QemuPath, requested);
        if (Interlocked.Exchange(ref _loggedChoice, 1) == 0)
        {
            _options.Log?.Invoke($"qemu {Version}: accelerator {choice}; {OwnerWatch.Describe()}");
        }
        return choice;
    }

    public async Task<IVirtualMachine> StartAsync(VmMachineSpec machine, CancellationToken cancellationToken = default)
    {
        AcceleratorChoice accelerator = ChooseAccelerator(machine.Accelerator);
        (string runtimeDirectory, bool owned) = PrepareRuntimeDirectory(machine);
        bool mapped = machine.Snapshottable && machine.SnapshotMode == VmSnapshotMode.MappedRam;
        var launch = new QemuLaunch
        {
            Spec = machine,
            Accelerator = accelerator.Accelerator,
            RuntimeDirectory = runtimeDirectory,
            KernelArguments = QemuCommandLine.KernelArguments(machine.Nat ? $"{Network.PasstNat.KernelArgument} {machine.KernelArguments}" : machine.KernelArguments),
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

    public SnapshotMismatch? FindMismatch(VmSnapshotInfo snapshot, Accelerator? requested = null) =>
        QemuSnapshot.FindMismatch(this, snapshot, requested);

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
            if (launch.Nat)
            {
                nat = await Network.PasstNat.StartAsync(cancellationToken).ConfigureAwait(false);
                launch = launch with { NatSocket = nat.SocketPath };
            }
            process = OwnerWatch.Start(QemuPath, QemuCommandLine.Build(launch), launch.RuntimeDirectory);
        }
        catch (Exception e)
        {
            nat?.Dispose();
            Cleanup(launch.RuntimeDirectory, ownsRuntimeDirectory);
            if (e is System.ComponentModel.Win32Exception or InvalidOperationException)
            {
                throw Errors.QemuPathInvalid(QemuPath, Path.GetFileName(QemuPath), cause: e);
            }
            throw;
        }
        var vm = new QemuMachine(process, launch, accelerator, Version, ownsRuntimeDirectory, nat) { QemuPath = QemuPath };
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
        if (Path.Combine(path, "agent.sock").Length > 100)
        {
            throw Errors.RuntimeDirectoryUnusable(path, $"the path is {path.Length} characters long");
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
