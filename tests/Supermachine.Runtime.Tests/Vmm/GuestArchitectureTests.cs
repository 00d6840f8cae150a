using Supermachine.Diagnostics;
using Supermachine.Tests.Infrastructure;
using Supermachine.Vmm;
using Supermachine.Vmm.Qemu;

namespace Supermachine.Tests.Vmm;

/// <summary>
/// What differs by guest architecture and by host, checked without the host in question: the QEMU
/// command line of each architecture, the accelerator decision for a Mac, an arm64 server and this
/// machine, where QEMU is looked for, socket path limits, and the snapshot's architecture check.
/// </summary>
public class GuestArchitectureTests
{
    private static List<string> Arguments(GuestArchitecture architecture, Accelerator accelerator) => QemuCommandLine.Build(new QemuLaunch
    {
        Spec = new VmMachineSpec { Architecture = architecture, KernelPath = "/k", InitrdPath = "/i", RootfsPath = "/r" },
        Accelerator = accelerator,
        RuntimeDirectory = "/run/sm",
        KernelArguments = QemuCommandLine.KernelArguments(architecture, "extra=1"),
        MemoryMiB = 256,
        Vcpus = 1,
    });

    private static string After(List<string> args, string option) => args[args.IndexOf(option) + 1];

    [Fact]
    public void An_arm64_guest_is_a_virt_machine_with_a_GICv3_a_named_cpu_when_emulated_and_the_host_cpu_under_a_hypervisor()
    {
        List<string> tcg = Arguments(GuestArchitecture.Arm64, Accelerator.Tcg);
        Assert.Equal("virt,gic-version=3,memory-backend=mem", After(tcg, "-machine"));
        Assert.Equal("cortex-a72", After(tcg, "-cpu"));
        Assert.Equal("console=ttyAMA0 panic=-1 init_on_free=1 quiet extra=1", After(tcg, "-append"));
        Assert.Contains("virtio-serial-pci,id=vser", tcg);
        Assert.Contains("virtio-blk-pci,drive=rootfs", tcg);

        Assert.Equal("host", After(Arguments(GuestArchitecture.Arm64, Accelerator.Kvm), "-cpu"));
        List<string> hvf = Arguments(GuestArchitecture.Arm64, Accelerator.Hvf);
        Assert.Equal("host", After(hvf, "-cpu"));
        Assert.Equal("virt,gic-version=3,highmem=off,memory-backend=mem", After(hvf, "-machine"));
        Assert.Equal("hvf", After(hvf, "-accel"));
    }

    [Fact]
    public void An_amd64_guest_keeps_its_q35_machine_cpu_and_kernel_arguments()
    {
        List<string> args = Arguments(GuestArchitecture.Amd64, Accelerator.Tcg);
        Assert.Equal("q35,memory-backend=mem", After(args, "-machine"));
        Assert.Equal("Haswell-v2,-pcid,-x2apic,-tsc-deadline,-invpcid", After(args, "-cpu"));
        Assert.Equal("console=ttyS0 panic=-1 no_timer_check init_on_free=1 quiet extra=1", After(args, "-append"));
    }

    [Theory]
    [InlineData("amd64", "amd64")]
    [InlineData("x86_64", "amd64")]
    [InlineData("arm64", "arm64")]
    [InlineData("aarch64", "arm64")]
    public void Image_architectures_name_their_guest(string platformArchitecture, string guest) =>
        Assert.Equal(guest, GuestArchitecture.FromPlatform(platformArchitecture, "img").Name);

    [Fact]
    public void An_architecture_without_a_guest_is_SM2025_naming_the_ones_there_are()
    {
        var e = Assert.Throws<SupermachineException>(() => GuestArchitecture.FromPlatform("riscv64", "img"));
        Assert.Equal("SM2025", e.Code);
        Assert.Contains("linux/riscv64", e.Message);
        Assert.Contains("linux/arm64", e.Message);
        // A baked image from before the architecture was recorded is amd64, the only guest there was.
        Assert.Equal(GuestArchitecture.Amd64, GuestArchitecture.FromRecord("", "img"));
    }

    [Fact]
    public void A_foreign_guest_is_emulated_with_the_reason_and_asking_a_hypervisor_for_it_is_SM3111()
    {
        GuestArchitecture foreign = GuestArchitecture.All.Single(a => !a.IsHost);
        AcceleratorChoice choice = AcceleratorProbe.Choose("/nonexistent/qemu", null, foreign);
        Assert.Equal(Accelerator.Tcg, choice.Accelerator);
        Assert.Contains("foreign instruction set", choice.Reason);
        Assert.Equal(Accelerator.Tcg, AcceleratorProbe.Choose("/nonexistent/qemu", Accelerator.Tcg, foreign).Accelerator);
        var e = Assert.Throws<SupermachineException>(() => AcceleratorProbe.Choose("/nonexistent/qemu", Accelerator.Kvm, foreign));
        Assert.Equal("SM3111", e.Code);
    }

    private static TimeSpan? NoProbe(string qemu, Accelerator accelerator) => throw new InvalidOperationException("no probe guest expected");

    [Fact]
    public void On_a_Mac_kern_hv_support_decides_between_HVF_and_TCG()
    {
        var mac = new HostFacts { OS = HostOS.MacOS, Architecture = GuestArchitecture.Arm64, HvSupport = true };
        AcceleratorChoice hvf = AcceleratorProbe.Measure("qemu", mac, (_, accelerator) => accelerator == Accelerator.Hvf ? TimeSpan.FromMilliseconds(70) : null);
        Assert.Equal(Accelerator.Hvf, hvf.Accelerator);
        Assert.Contains("-accel hvf", hvf.Reason);
        Assert.Equal(Accelerator.Tcg, AcceleratorProbe.Measure("qemu", mac, (_, _) => null).Accelerator); // HVF refused (e.g. entitlement)
        Assert.Equal(Accelerator.Tcg, AcceleratorProbe.Measure("qemu", mac with { HvSupport = false }, NoProbe).Accelerator);
        Assert.Contains("kern.hv_support is 0", AcceleratorProbe.Measure("qemu", mac with { HvSupport = false }, NoProbe).Reason);
        Assert.Equal(Accelerator.Tcg, AcceleratorProbe.Measure("qemu", mac with { HvSupport = null }, NoProbe).Accelerator);
        // An Intel Mac has the x86 probe guest to confirm it.
        Assert.Equal(Accelerator.Hvf, AcceleratorProbe.Measure("qemu", mac with { Architecture = GuestArchitecture.Amd64 }, (_, _) => TimeSpan.FromMilliseconds(80)).Accelerator);
    }

    [Fact]
    public void On_Linux_a_usable_dev_kvm_is_KVM_when_a_probe_guest_runs_fast()
    {
        var arm = new HostFacts { OS = HostOS.Linux, Architecture = GuestArchitecture.Arm64, DevKvmExists = true };
        Assert.Equal(Accelerator.Kvm, AcceleratorProbe.Measure("qemu", arm, (_, _) => TimeSpan.FromMilliseconds(60)).Accelerator);
        Assert.Equal(Accelerator.Tcg, AcceleratorProbe.Measure("qemu", arm with { DevKvmExists = false }, NoProbe).Accelerator);
        Assert.Equal(Accelerator.Tcg, AcceleratorProbe.Measure("qemu", arm with { DevKvmError = "Permission denied" }, NoProbe).Accelerator);

        var x64 = new HostFacts { OS = HostOS.Linux, Architecture = GuestArchitecture.Amd64, DevKvmExists = true };
        Assert.Equal(Accelerator.Tcg, AcceleratorProbe.Measure("qemu", x64 with { KvmPvm = true }, NoProbe).Accelerator);
        Assert.Equal(Accelerator.Kvm, AcceleratorProbe.Measure("qemu", x64, (_, _) => TimeSpan.FromMilliseconds(90)).Accelerator);
        Assert.Equal(Accelerator.Tcg, AcceleratorProbe.Measure("qemu", x64, (_, _) => TimeSpan.FromSeconds(3)).Accelerator);
        Assert.Equal(Accelerator.Tcg, AcceleratorProbe.Measure("qemu", x64, (_, _) => null).Accelerator);
    }

    [Fact]
    public void The_facts_of_this_host_are_read_without_the_other_OS_paths()
    {
        HostFacts facts = HostFacts.Read();
        Assert.Equal(GuestArchitecture.Host, facts.Architecture);
        if (OperatingSystem.IsLinux())
        {
            Assert.Equal(HostOS.Linux, facts.OS);
            Assert.Null(facts.HvSupport);
        }
    }

    [Fact]
    public void QEMU_is_looked_for_where_Homebrew_and_MacPorts_put_it_and_beside_a_configured_binary()
    {
        IReadOnlyList<string> mac = QemuLocator.WellKnownFolders(HostOS.MacOS);
        Assert.Contains("/opt/homebrew/bin", mac);
        Assert.Contains("/usr/local/bin", mac);
        Assert.Contains("/opt/local/bin", mac);
        Assert.Equal("/opt/q/bin/qemu-system-aarch64", QemuLocator.SiblingFor("/opt/q/bin/qemu-system-x86_64", "aarch64"));
        Assert.Null(QemuLocator.SiblingFor("/opt/q/bin/qemu-system-x86_64", "x86_64"));
        Assert.Null(QemuLocator.SiblingFor("/opt/q/bin/my-qemu-wrapper", "aarch64"));
    }

    [Fact]
    public void Socket_paths_are_held_to_104_bytes_on_macOS_and_108_on_Linux()
    {
        Assert.Equal(103, UnixSocketPaths.Limit(HostOS.MacOS));
        Assert.Equal(107, UnixSocketPaths.Limit(HostOS.Linux));
        string directory = "/" + new string('d', 94); // 95 bytes: dir/agent.sock is 106
        Assert.Null(UnixSocketPaths.TooLong(directory, ["agent.sock"], UnixSocketPaths.Limit(HostOS.Linux)));
        string? why = UnixSocketPaths.TooLong(directory, ["agent.sock"], UnixSocketPaths.Limit(HostOS.MacOS));
        Assert.NotNull(why);
        Assert.Contains("106 bytes", why);
        // macOS's temp folder (/var/folders/xx/…/T/) leaves room for our runtime directories.
        Assert.Null(UnixSocketPaths.TooLong("/var/folders/zz/zyxvpxvq6csfxvn_n0000000000000/T/sm-12345_1234567890123-abcdef01", ["agent.sock", "qmp.sock"], UnixSocketPaths.Limit(HostOS.MacOS)));
    }

    [Fact]
    public void A_snapshot_of_another_guest_architecture_is_a_mismatch_before_any_engine_fact()
    {
        var backend = new QemuBackend(new QemuBackendOptions { QemuPath = "/nonexistent/qemu-system-x86_64" });
        VmSnapshotInfo Info(string architecture) => new()
        {
            FormatVersion = QemuSnapshot.FormatVersion,
            Architecture = architecture,
            Engine = "qemu",
            EngineVersion = "7.2.22",
            Accelerator = Accelerator.Tcg,
            CpuModel = "cortex-a72",
            MachineType = "virt,gic-version=3",
            MemoryMiB = 256,
            Vcpus = 1,
            KernelArguments = "",
            Mode = VmSnapshotMode.MappedRam,
            Files = [],
        };
        SnapshotMismatch? mismatch = backend.FindMismatch(Info("arm64"), expected: GuestArchitecture.Amd64);
        Assert.NotNull(mismatch);
        Assert.Equal("guest architecture", mismatch.What);
        Assert.Equal("arm64", mismatch.Theirs);
        Assert.Equal("guest architecture", backend.FindMismatch(Info("riscv64"))!.What);
    }

    [RequiresToolFact("qemu-system-aarch64")]
    public void The_arm64_probe_guest_powers_off_and_the_x86_one_does_too()
    {
        // Under TCG here; on an arm64 host the same firmware times KVM or HVF.
        Assert.NotNull(GuestArchitecture.Arm64.Probe.Run(QemuLocator.Locate("aarch64"), Accelerator.Tcg, TimeSpan.FromSeconds(60)));
        Assert.Equal(0xFFF0, Array.IndexOf(GuestArchitecture.Amd64.Probe.Firmware(), (byte)0xEA, 0x100));
    }
}
