namespace Supermachine.Vmm.Qemu;

/// <summary>Where a guest's RAM lives.</summary>
internal enum RamBacking
{
    /// <summary>Anonymous memory (memory-backend-ram).</summary>
    Anonymous,

    /// <summary>A file mapped shared: the file is the RAM, so a snapshot can keep it without copying through QEMU.</summary>
    SharedFile,

    /// <summary>A snapshot's RAM file mapped privately (copy-on-write): pages load on first touch, the file is never written.</summary>
    PrivateFile,
}

/// <summary>Everything that decides a QEMU command line.</summary>
internal sealed record QemuLaunch
{
    public required VmMachineSpec Spec { get; init; }

    public required Accelerator Accelerator { get; init; }

    public required string RuntimeDirectory { get; init; }

    public required string KernelArguments { get; init; }

    public required int MemoryMiB { get; init; }

    public required int Vcpus { get; init; }

    public RamBacking Ram { get; init; } = RamBacking.Anonymous;

    /// <summary>The RAM file for <see cref="RamBacking.SharedFile"/> and <see cref="RamBacking.PrivateFile"/>.</summary>
    public string? RamFile { get; init; }

    /// <summary>A virtio-net NIC behind a NAT of its own (started with the VM, <see cref="NatSocket"/>).</summary>
    public bool Nat { get; init; }

    /// <summary>The running NAT's unix socket, once it is started.</summary>
    public string? NatSocket { get; init; }

    /// <summary>The writable disk (/dev/vdb): raw for a cold boot, a qcow2 overlay for a restore; null for none.</summary>
    public string? DiskFile { get; init; }

    /// <summary>The guest-visible size of <see cref="DiskFile"/>.</summary>
    public int DiskMiB { get; init; }

    /// <summary>Empty PCIe root ports for hot-plugged devices (recorded in snapshots).</summary>
    public int HotplugSlots { get; init; }

    /// <summary>Bake-time volumes, in device order.</summary>
    public IReadOnlyList<VmBakedVolume> Volumes { get; init; } = [];

    /// <summary>Their disks (raw for a cold boot, qcow2 overlays for a restore), in the same order.</summary>
    public IReadOnlyList<string> VolumeFiles { get; init; } = [];

    /// <summary>The host sides of run-time attachments, opened with QEMU; their devices are plugged later.</summary>
    public IReadOnlyList<VmAttachment> Attachments { get; init; } = [];

    /// <summary>Start paused, waiting for migrate-incoming (a restore).</summary>
    public bool Incoming { get; init; }

    public string QmpSocket => Path.Combine(RuntimeDirectory, "qmp.sock");

    public string AgentSocket => Path.Combine(RuntimeDirectory, "agent.sock");

    public string ConsoleLog => Path.Combine(RuntimeDirectory, "console.log");

    /// <summary>The VM's end of the private network: where the switch sends its frames.</summary>
    public string PrivateSocket => Path.Combine(RuntimeDirectory, "lan.sock");

}

/// <summary>
/// Builds QEMU's arguments. Boot and restore share this one builder on purpose: a migration stream
/// only loads into a machine with exactly the same devices, ROMs and RAM blocks.
/// </summary>
internal static class QemuCommandLine
{
    /// <summary>The NAT socket that stands for QEMU's slirp (the network benchmark's peer, <see cref="QemuBackendOptions.SlirpNatForBenchmark"/>).</summary>
    public const string Slirp = "slirp:";

    public static List<string> Build(QemuLaunch launch)
    {
        VmMachineSpec spec = launch.Spec;
        GuestArchitecture arch = spec.Architecture;
        var args = new List<string>
        {
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-name", "supermachine,debug-threads=on",
            "-machine", $"{arch.Machine(launch.Accelerator)},memory-backend=mem",
            "-accel", AcceleratorProbe.QemuName(launch.Accelerator),
            "-cpu", arch.CpuModel(launch.Accelerator),
            "-smp", launch.Vcpus.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-m", $"{launch.MemoryMiB}M",
            "-object", MemoryBackend(launch),
            "-kernel", spec.KernelPath,
            "-initrd", spec.InitrdPath,
            "-append", launch.KernelArguments,
            "-chardev", $"file,id=console,path={Escape(launch.ConsoleLog)}",
            "-serial", "chardev:console",
            "-drive", $"file={Escape(spec.RootfsPath)},if=none,id=rootfs,format=raw,readonly=on",
            "-device", "virtio-blk-pci,drive=rootfs",
        };
        AddWritableDisk(args, launch);
        args.AddRange(
        [
            "-device", "virtio-serial-pci,id=vser",
            "-chardev", $"socket,id=agent,path={Escape(launch.AgentSocket)},server=on,wait=off",
            "-device", "virtserialport,bus=vser.0,chardev=agent,name=sm.agent",
            "-qmp", $"unix:{Escape(launch.QmpSocket)},server=on,wait=off",
        ]);
        if (launch.Nat)
        {
            string natSocket = launch.NatSocket ?? throw new InvalidOperationException("The NAT must be started before QEMU.");
            args.AddRange([
                "-netdev", natSocket == Slirp
                    ? $"user,id=nat,net=10.0.2.0/24,host={Network.PasstNat.Gateway},dns={Network.PasstNat.Dns}"
                    : $"stream,id=nat,server=off,addr.type=unix,addr.path={Escape(natSocket)}",
                "-device", $"virtio-net-pci,netdev=nat,mac={Network.PasstNat.GuestMac}",
            ]);
            AddPrivateNic(args, launch);
        }
        AddVolumes(args, launch);
        if (launch.Incoming)
        {
            args.Add("-incoming");
            args.Add("defer");
        }
        return args;
    }

    /// <summary>
    /// The private network's NIC (eth1), in every machine with the NAT so the device set, and so a
    /// snapshot, does not depend on the network: one datagram per frame to the switch's socket,
    /// from a socket of the VM's own. Without a switch it has no peer (QEMU warns once) and the
    /// guest keeps it down. The MAC given here is the baked one: the agent sets a per-member MAC.
    /// </summary>
    private static void AddPrivateNic(List<string> args, QemuLaunch launch)
    {
        string device = $"virtio-net-pci,mac={Network.PrivateNetwork.BakedMac}";
        if (launch.Spec.PrivateSwitch is string peer)
        {
            args.AddRange(["-netdev", $"dgram,id=lan,local.type=unix,local.path={Escape(launch.PrivateSocket)},remote.type=unix,remote.path={Escape(peer)}"]);
            device += ",netdev=lan";
        }
        args.AddRange(["-device", device]);
    }

    /// <summary>
    /// The writable disk, right after the root filesystem so the guest names it vdb. discard=unmap
    /// lets the guest's trims punch holes in the file.
    /// </summary>
    private static void AddWritableDisk(List<string> args, QemuLaunch launch)
    {
        if (launch.DiskFile is not string disk)
        {
            return;
        }
        string format = disk.EndsWith(".qcow2", StringComparison.Ordinal) ? "qcow2" : "raw";
        args.AddRange(["-drive", $"file={Escape(disk)},if=none,id=disk,format={format},discard=unmap", "-device", "virtio-blk-pci,drive=disk"]);
    }

    /// <summary>
    /// Hot-plug slots, bake-time volumes and the host sides of attachments, after every other
    /// device so machines without them keep their slots. The root ports sit at fixed addresses and
    /// use native PCIe hot-plug (<see cref="GuestArchitecture.HotplugGlobals"/>). Attachment backends (-blockdev, -fsdev) are no
    /// devices, so a restore may open them without changing the snapshot's device set.
    /// </summary>
    private static void AddVolumes(List<string> args, QemuLaunch launch)
    {
        if (launch.HotplugSlots > 0)
        {
            foreach (string global in launch.Spec.Architecture.HotplugGlobals)
            {
                args.AddRange(["-global", global]);
            }
            for (int i = 0; i < launch.HotplugSlots; i++)
            {
                args.AddRange(["-device", FormattableString.Invariant($"pcie-root-port,id={SlotId(i)},chassis={i + 1},slot={i + 1},bus=pcie.0,addr=0x{0x10 + i:x}")]);
            }
        }
        for (int i = 0; i < launch.VolumeFiles.Count; i++)
        {
            string file = launch.VolumeFiles[i];
            string format = file.EndsWith(".qcow2", StringComparison.Ordinal) ? "qcow2" : "raw";
            args.AddRange(["-drive", FormattableString.Invariant($"file={Escape(file)},if=none,id=bvol{i},format={format},discard=unmap"),
                "-device", FormattableString.Invariant($"virtio-blk-pci,drive=bvol{i},serial={VmBakedVolume.Serial(i)}")]);
        }
        for (int i = 0; i < launch.Attachments.Count; i++)
        {
            VmAttachment a = launch.Attachments[i];
            string readOnly = a.ReadOnly ? "on" : "off";
            args.AddRange(a.Kind == VmAttachmentKind.Disk
                ? ["-blockdev", $"driver=raw,node-name={AttachmentId(i)},read-only={readOnly},discard=unmap,file.driver=file,file.filename={Escape(a.HostPath)}"]
                // security_model=none: files keep the host's owners and the guest's chowns are
                // ignored, as with a bind mount; QEMU opens every path component with O_NOFOLLOW
                // below the export root, so neither a symlink nor '..' leads out of it.
                : ["-fsdev", $"local,id={AttachmentId(i)},path={Escape(a.HostPath)},security_model=none,multidevs=remap,readonly={readOnly}"]);
        }
    }

    /// <summary>The id of hot-plug slot <paramref name="index"/>.</summary>
    public static string SlotId(int index) => "hp" + index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The backend id of attachment <paramref name="index"/> (its device is "dev-" and this).</summary>
    public static string AttachmentId(int index) => "att" + index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The full kernel command line of an <paramref name="architecture"/> guest for <paramref name="extra"/> caller arguments.</summary>
    public static string KernelArguments(GuestArchitecture architecture, string extra) =>
        string.IsNullOrWhiteSpace(extra) ? architecture.BaseKernelArguments : architecture.BaseKernelArguments + " " + extra.Trim();

    private static string MemoryBackend(QemuLaunch launch)
    {
        string size = $"size={launch.MemoryMiB}M";
        return launch.Ram switch
        {
            RamBacking.SharedFile => $"memory-backend-file,id=mem,{size},mem-path={Escape(launch.RamFile!)},share=on",
            RamBacking.PrivateFile => $"memory-backend-file,id=mem,{size},mem-path={Escape(launch.RamFile!)},share=off",
            _ => $"memory-backend-ram,id=mem,{size}",
        };
    }

    /// <summary>QEMU option values separate with commas; a literal comma is written twice.</summary>
    public static string Escape(string value) => value.Replace(",", ",,", StringComparison.Ordinal);
}
