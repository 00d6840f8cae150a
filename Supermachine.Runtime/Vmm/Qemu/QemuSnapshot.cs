using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Supermachine.FileSystem;
using Supermachine.Diagnostics;

namespace Supermachine.Vmm.Qemu;

/// <summary>
/// Snapshots as QEMU migrations to files, in the Firecracker split of "device state" and "memory":
/// <list type="bullet">
/// <item><c>vmstate</c>: the migration stream (CPU and device state; all of RAM too in <see cref="VmSnapshotMode.Migration"/>).</item>
/// <item><c>ram</c>: guest RAM as a sparse file, zero pages left as holes (<see cref="VmSnapshotMode.MappedRam"/> only).</item>
/// <item><c>disk.qcow2</c>: the writable disk, flattened and compact (<see cref="QemuDisk"/>); a restore writes to its own overlay of it.</item>
/// <item><c>qemu-snapshot.json</c>: <see cref="VmSnapshotInfo"/>, what a restore checks.</item>
/// </list>
/// A restore of a mapped-RAM snapshot maps <c>ram</c> privately (copy-on-write) with
/// <c>x-ignore-shared</c>, so it reads only the pages the guest touches, shares them in the page
/// cache with every other restore, and never writes the file. Names are relative: the directory
/// can move.
/// </summary>
internal static class QemuSnapshot
{
    /// <summary>2: every NAT machine has the private network's second NIC.</summary>
    public const int FormatVersion = 2;
    public const string InfoFile = "qemu-snapshot.json";
    public const string StateFile = "vmstate";
    public const string RamFile = "ram";
    public const string DiskFile = "disk.qcow2";

    /// <summary>The snapshot's copy of bake-time volume <paramref name="index"/> (compact qcow2, like <see cref="DiskFile"/>).</summary>
    public static string VolumeFile(int index) => FormattableString.Invariant($"volume-{index}.qcow2");

    private const int PageSize = 4096;

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public static async Task<VmSnapshotInfo> SaveAsync(QemuMachine vm, string directory, CancellationToken cancellationToken)
    {
        string dir = Path.GetFullPath(directory);
        Directory.CreateDirectory(dir);
        foreach (string name in new[] { InfoFile, StateFile, RamFile, DiskFile })
        {
            if (File.Exists(Path.Combine(dir, name)))
            {
                throw Errors.SnapshotDirectoryOccupied(dir, name);
            }
        }
        QemuLaunch launch = vm.Launch;
        if (launch.Attachments.Count > 0)
        {
            // A restore could not recreate the plugged devices, and a host directory is never snapshot state.
            throw Errors.SnapshotSaveFailed(dir, "the VM has run-time volumes or host directory mounts, which are never part of a snapshot");
        }
        // Only a RAM file this VM maps shared holds the guest's memory; a restored VM's private
        // mapping does not, so its snapshot carries RAM in the stream.
        VmSnapshotMode mode = launch.Ram == RamBacking.SharedFile ? VmSnapshotMode.MappedRam : VmSnapshotMode.Migration;
        string state = Path.Combine(dir, StateFile);
        try
        {
            await vm.ExecuteAsync("stop", null, "pause the guest", cancellationToken).ConfigureAwait(false);
            await SetIgnoreSharedAsync(vm, mode == VmSnapshotMode.MappedRam, cancellationToken).ConfigureAwait(false);
            // The default bandwidth cap (32 MiB/s) is for live migration over a network; a paused
            // guest into a local file should go as fast as the disk.
            await vm.ExecuteAsync("migrate-set-parameters", new JsonObject { ["max-bandwidth"] = long.MaxValue / 2 }, "lift the migration bandwidth limit", cancellationToken).ConfigureAwait(false);
            await vm.ExecuteAsync("migrate", new JsonObject { ["uri"] = "exec:cat > " + ShellQuote(state) }, "save the VM state", cancellationToken).ConfigureAwait(false);
            await WaitForMigrationAsync(vm, cancellationToken).ConfigureAwait(false);
            if (mode == VmSnapshotMode.MappedRam)
            {
                CopyWithoutZeroPages(launch.RamFile!, Path.Combine(dir, RamFile));
            }
            if (launch.DiskFile is string disk)
            {
                // The stop above drained and flushed the disk; the paused guest writes nothing more.
                QemuDisk.Flatten(vm.QemuPath, disk, Path.Combine(dir, DiskFile));
            }
            for (int i = 0; i < launch.VolumeFiles.Count; i++)
            {
                QemuDisk.Flatten(vm.QemuPath, launch.VolumeFiles[i], Path.Combine(dir, VolumeFile(i)));
            }
        }
        catch (Exception e)
        {
            // Nothing half-written may look like a snapshot.
            File.Delete(state);
            File.Delete(Path.Combine(dir, RamFile));
            File.Delete(Path.Combine(dir, RamFile) + ".tmp");
            File.Delete(Path.Combine(dir, DiskFile));
            File.Delete(Path.Combine(dir, DiskFile) + ".tmp");
            for (int i = 0; i < launch.VolumeFiles.Count; i++)
            {
                File.Delete(Path.Combine(dir, VolumeFile(i)));
                File.Delete(Path.Combine(dir, VolumeFile(i)) + ".tmp");
            }
            if (e is IOException or InvalidOperationException or UnauthorizedAccessException or System.ComponentModel.Win32Exception)
            {
                throw Errors.SnapshotSaveFailed(dir, e.Message, cause: e);
            }
            throw;
        }
        var info = new VmSnapshotInfo
        {
            FormatVersion = FormatVersion,
            Architecture = launch.Spec.Architecture.Name,
            Engine = "qemu",
            EngineVersion = vm.EngineVersion,
            Accelerator = vm.Accelerator,
            CpuModel = vm.CpuModel,
            MachineType = launch.Spec.Architecture.Machine(vm.Accelerator),
            MemoryMiB = launch.MemoryMiB,
            Vcpus = launch.Vcpus,
            KernelArguments = launch.KernelArguments,
            Mode = mode,
            Nat = launch.Nat,
            DiskMiB = launch.DiskFile is null ? 0 : launch.DiskMiB,
            HotplugSlots = launch.HotplugSlots,
            Volumes = launch.Volumes,
            Files = [InfoFile, StateFile, .. mode == VmSnapshotMode.MappedRam ? [RamFile] : Array.Empty<string>(), .. launch.DiskFile is null ? Array.Empty<string>() : [DiskFile],
                .. launch.Volumes.Select((_, i) => VolumeFile(i))],
        };
        // Written last: its presence says the snapshot is complete.
        WriteInfo(dir, info);
        return info;
    }

    /// <summary>Writes the engine's description of the snapshot in <paramref name="directory"/> in one rename.</summary>
    public static void WriteInfo(string directory, VmSnapshotInfo info)
    {
        string infoPath = Path.Combine(directory, InfoFile);
        File.WriteAllText(infoPath + ".tmp", JsonSerializer.Serialize(info, Json));
        File.Move(infoPath + ".tmp", infoPath, overwrite: true);
    }

    public static VmSnapshotInfo Read(string directory)
    {
        string dir = Path.GetFullPath(directory);
        string infoPath = Path.Combine(dir, InfoFile);
        VmSnapshotInfo? info;
        try
        {
            info = JsonSerializer.Deserialize<VmSnapshotInfo>(File.ReadAllText(infoPath), Json);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Errors.SnapshotIncomplete(dir, $"{InfoFile} cannot be read ({e.Message})", cause: e);
        }
        catch (JsonException e)
        {
            throw Errors.SnapshotIncomplete(dir, $"{InfoFile} is not valid ({e.Message})", cause: e);
        }
        if (info is null)
        {
            throw Errors.SnapshotIncomplete(dir, $"{InfoFile} is empty");
        }
        foreach (string file in info.Files)
        {
            if (Path.IsPathRooted(file) || file.Contains("..", StringComparison.Ordinal) || !File.Exists(Path.Combine(dir, file)))
            {
                throw Errors.SnapshotIncomplete(dir, $"'{file}' is missing");
            }
        }
        if (info.Mode == VmSnapshotMode.MappedRam && new FileInfo(Path.Combine(dir, RamFile)).Length != (long)info.MemoryMiB << 20)
        {
            throw Errors.SnapshotIncomplete(dir, $"'{RamFile}' is not {info.MemoryMiB} MiB long (truncated?)");
        }
        if (info.DiskMiB > 0 && (!info.Files.Contains(DiskFile) || QemuDisk.VirtualSize(Path.Combine(dir, DiskFile)) != (long)info.DiskMiB << 20))
        {
            throw Errors.SnapshotIncomplete(dir, $"'{DiskFile}' is not a qcow2 disk of {info.DiskMiB} MiB");
        }
        for (int i = 0; i < info.Volumes.Count; i++)
        {
            if (!info.Files.Contains(VolumeFile(i)) || QemuDisk.VirtualSize(Path.Combine(dir, VolumeFile(i))) != (long)info.Volumes[i].SizeMiB << 20)
            {
                throw Errors.SnapshotIncomplete(dir, $"'{VolumeFile(i)}' is not a qcow2 disk of {info.Volumes[i].SizeMiB} MiB");
            }
        }
        return info;
    }

    public static SnapshotMismatch? FindMismatch(QemuBackend backend, VmSnapshotInfo info, Accelerator? requested, GuestArchitecture? expected)
    {
        string Number(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (expected is not null && info.Architecture != expected.Name)
        {
            return new SnapshotMismatch("guest architecture", info.Architecture, expected.Name);
        }
        if (GuestArchitecture.TryFromName(info.Architecture) is not GuestArchitecture arch)
        {
            return new SnapshotMismatch("guest architecture", info.Architecture, string.Join(" or ", GuestArchitecture.All.Select(a => a.Name)));
        }
        // Each fact is computed only once the ones before it agree: the engine version needs the
        // architecture's QEMU, the CPU model the accelerator.
        (string What, string Theirs, Func<string> Ours)[] facts =
        [
            ("snapshot format version", Number(info.FormatVersion), () => Number(FormatVersion)),
            ("engine", info.Engine, () => backend.Name),
            ("engine version", info.EngineVersion, () => backend.GetVersion(arch)),
            // A foreign snapshot is compared with emulation, never with a refusal of the requested hypervisor.
            ("accelerator", AcceleratorProbe.QemuName(info.Accelerator), () => AcceleratorProbe.QemuName((arch.IsHost ? backend.ChooseAccelerator(requested, arch) : AcceleratorProbe.Foreign(arch)).Accelerator)),
            ("CPU model", info.CpuModel, () => arch.CpuModel(info.Accelerator)),
            ("machine type", info.MachineType, () => arch.Machine(info.Accelerator)),
        ];
        foreach (var (what, theirs, ours) in facts)
        {
            string value = ours();
            if (!string.Equals(theirs, value, StringComparison.Ordinal))
            {
                return new SnapshotMismatch(what, theirs, value);
            }
        }
        return null;
    }

    public static async Task<IVirtualMachine> RestoreAsync(QemuBackend backend, VmMachineSpec machine, string snapshotDirectory, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        QemuPreparedRestore prepared = await PrepareAsync(backend, machine, snapshotDirectory, clock, cancellationToken).ConfigureAwait(false);
        return await prepared.CompleteAsync(clock, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Starts QEMU waiting for the snapshot's state (-incoming defer), everything but the load itself.</summary>
    public static async Task<QemuPreparedRestore> PrepareAsync(QemuBackend backend, VmMachineSpec machine, string snapshotDirectory, Stopwatch clock, CancellationToken cancellationToken)
    {
        string dir = Path.GetFullPath(snapshotDirectory);
        VmSnapshotInfo info = Read(dir);
        if (FindMismatch(backend, info, machine.Accelerator, machine.Architecture) is { } mismatch)
        {
            throw Errors.SnapshotIncompatible(dir, mismatch.What, mismatch.Theirs, mismatch.Ours);
        }
        AcceleratorChoice accelerator = backend.ChooseAccelerator(machine.Accelerator, machine.Architecture);
        (string runtimeDirectory, bool owned) = backend.PrepareRuntimeDirectory(machine);
        bool mapped = info.Mode == VmSnapshotMode.MappedRam;
        var launch = new QemuLaunch
        {
            Spec = machine,
            Accelerator = accelerator.Accelerator,
            RuntimeDirectory = runtimeDirectory,
            KernelArguments = info.KernelArguments,
            Nat = info.Nat,
            MemoryMiB = info.MemoryMiB,
            Vcpus = info.Vcpus,
            Ram = mapped ? RamBacking.PrivateFile : RamBacking.Anonymous,
            RamFile = mapped ? Path.Combine(dir, RamFile) : null,
            DiskFile = info.DiskMiB > 0 ? Path.Combine(runtimeDirectory, QemuDisk.OverlayFile) : null,
            DiskMiB = info.DiskMiB,
            HotplugSlots = info.HotplugSlots,
            Volumes = info.Volumes,
            VolumeFiles = [.. info.Volumes.Select((_, i) => Path.Combine(runtimeDirectory, QemuDisk.VolumeOverlayFile(i)))],
            Attachments = machine.Attachments,
            Incoming = true,
        };
        try
        {
            if (launch.DiskFile is string overlay)
            {
                QemuDisk.CreateOverlay(backend.QemuPathFor(machine.Architecture), Path.Combine(dir, DiskFile), overlay);
            }
            for (int i = 0; i < launch.VolumeFiles.Count; i++)
            {
                QemuDisk.CreateOverlay(backend.QemuPath, Path.Combine(dir, VolumeFile(i)), launch.VolumeFiles[i]);
            }
        }
        catch
        {
            QemuBackend.Cleanup(runtimeDirectory, owned);
            throw;
        }
        QemuMachine vm = await backend.LaunchAsync(launch, accelerator, owned, cancellationToken, clock).ConfigureAwait(false);
        try
        {
            await SetIgnoreSharedAsync(vm, mapped, cancellationToken).ConfigureAwait(false);
            return new QemuPreparedRestore(vm, dir, backend.StartTimeout);
        }
        catch
        {
            await vm.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Loads the state into a prepared QEMU and starts the guest.</summary>
    internal static async Task LoadAndResumeAsync(QemuMachine vm, string dir, TimeSpan timeout, Stopwatch clock, CancellationToken cancellationToken)
    {
        try
        {
            await vm.ExecuteAsync("migrate-incoming", new JsonObject { ["uri"] = "exec:cat " + ShellQuote(Path.Combine(dir, StateFile)) }, "load the snapshot", cancellationToken).ConfigureAwait(false);
            await WaitUntilLoadedAsync(vm, dir, timeout, cancellationToken).ConfigureAwait(false);
            vm.Mark("state-loaded", clock.Elapsed);
            // The stream carries the source's run state, and the source was paused to be saved.
            await vm.ExecuteAsync("cont", null, "start the restored guest", cancellationToken).ConfigureAwait(false);
            vm.Mark("resumed", clock.Elapsed);
        }
        catch (Exception e) when (e is IOException)
        {
            string console = vm.ReadConsoleTail();
            await vm.DisposeAsync().ConfigureAwait(false);
            throw Errors.SnapshotRestoreFailed(dir, e.Message, console, cause: e);
        }
        catch
        {
            await vm.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Polls the run state until the incoming migration is over; each poll is one local QMP round trip.</summary>
    private static async Task WaitUntilLoadedAsync(QemuMachine vm, string dir, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            JsonNode? status = null;
            try
            {
                status = await vm.ExecuteAsync("query-status", null, "report the run state", cancellationToken).ConfigureAwait(false);
            }
            catch (IOException)
            {
                // QEMU exits when it cannot load the stream; its stderr says why.
            }
            string? state = status?["status"]?.GetValue<string>();
            if (state is not null && state != "inmigrate")
            {
                if (state is "paused" or "postmigrate" or "running")
                {
                    return;
                }
                throw Errors.SnapshotRestoreFailed(dir, $"QEMU ended in state '{state}'", vm.ReadConsoleTail());
            }
            if (state is null || vm.HasExited)
            {
                await Task.WhenAny(vm.WaitForExitAsync(CancellationToken.None), Task.Delay(500, CancellationToken.None)).ConfigureAwait(false);
                string said = vm.StandardErrorTail;
                throw Errors.SnapshotRestoreFailed(dir, said.Length == 0 ? "QEMU could not load the state" : said, vm.ReadConsoleTail());
            }
            if (clock.Elapsed > timeout)
            {
                throw Errors.SnapshotRestoreFailed(dir, $"the state did not load within {QemuBackend.Seconds(timeout)} s", vm.ReadConsoleTail());
            }
            await Task.Delay(1, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Copies a RAM file leaving every all-zero page as a hole, so a snapshot costs disk only for
    /// the memory the guest really uses. Holes of the source are skipped without reading them.
    /// </summary>
    internal static void CopyWithoutZeroPages(string source, string destination)
    {
        const int Chunk = 1 << 20;
        using var input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.SequentialScan);
        using var output = new FileStream(destination + ".tmp", FileMode.Create, FileAccess.Write, FileShare.None, 1);
        long length = input.Length;
        output.SetLength(length);
        byte[] buffer = new byte[Chunk];
        foreach ((long start, long end) in SparseFile.DataRegions(input.SafeFileHandle, length))
        {
            for (long offset = start; offset < end; offset += Chunk)
            {
                int count = (int)Math.Min(Chunk, end - offset);
                int read = RandomAccess.Read(input.SafeFileHandle, buffer.AsSpan(0, count), offset);
                // Write maximal runs of non-zero pages.
                int page = 0;
                while (page < read)
                {
                    int size = Math.Min(PageSize, read - page);
                    if (!buffer.AsSpan(page, size).ContainsAnyExcept((byte)0))
                    {
                        page += size;
                        continue;
                    }
                    int runEnd = page + size;
                    while (runEnd < read && buffer.AsSpan(runEnd, Math.Min(PageSize, read - runEnd)).ContainsAnyExcept((byte)0))
                    {
                        runEnd += Math.Min(PageSize, read - runEnd);
                    }
                    RandomAccess.Write(output.SafeFileHandle, buffer.AsSpan(page, runEnd - page), offset + page);
                    page = runEnd;
                }
            }
        }
        output.Flush(flushToDisk: true);
        output.Dispose();
        File.Move(destination + ".tmp", destination);
    }

    private static async Task SetIgnoreSharedAsync(QemuMachine vm, bool enabled, CancellationToken cancellationToken) =>
        await vm.ExecuteAsync("migrate-set-capabilities", new JsonObject
        {
            ["capabilities"] = new JsonArray(new JsonObject { ["capability"] = "x-ignore-shared", ["state"] = enabled }),
        }, "set the x-ignore-shared migration capability", cancellationToken).ConfigureAwait(false);

    private static async Task WaitForMigrationAsync(QemuMachine vm, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            JsonNode? status = await vm.ExecuteAsync("query-migrate", null, "report the migration status", cancellationToken).ConfigureAwait(false);
            switch (status?["status"]?.GetValue<string>())
            {
                case "completed":
                    return;
                case "failed" or "cancelled":
                    throw new IOException("QEMU reported: " + (status["error-desc"]?.GetValue<string>() ?? "migration failed"));
            }
            await Task.Delay(clock.ElapsedMilliseconds < 100 ? 2 : 20, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Single-quotes a path for the /bin/sh that QEMU's exec: migration runs.</summary>
    private static string ShellQuote(string path) => "'" + path.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
