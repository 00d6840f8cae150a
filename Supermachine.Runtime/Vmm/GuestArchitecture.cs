using System.Runtime.InteropServices;
using Supermachine.Diagnostics;

namespace Supermachine.Vmm;

/// <summary>
/// The instruction set a guest runs, and every fact of its machine that differs by it: the QEMU
/// binary, machine type, CPU model, serial console and the folder of its guest files. The one place
/// that knows amd64 from arm64; everything else asks it.
/// </summary>
internal sealed record GuestArchitecture
{
    /// <summary>
    /// x86-64 on q35 (the microvm type hung under TCG with this kernel). Haswell is x86-64-v3 (AVX2,
    /// BMI1/2, FMA, MOVBE, F16C, LZCNT), what current images are built for (mongod 5+ dies with
    /// SIGILL without AVX). The four features QEMU 7.2's TCG cannot emulate are taken out, so TCG
    /// and KVM guests see one feature set without warnings; every x86-64 KVM/HVF/WHPX host since 2013
    /// provides the rest. no_timer_check skips the IO-APIC timer probe, which fails ("IO-APIC + timer
    /// doesn't work!") and panics when an emulated vCPU is starved by a busy host.
    /// </summary>
    public static readonly GuestArchitecture Amd64 = new()
    {
        Name = "amd64",
        QemuName = "x86_64",
        RuntimeIdentifier = "linux-x64",
        MachineType = "q35",
        EmulatedCpu = "Haswell-v2,-pcid,-x2apic,-tsc-deadline,-invpcid",
        HardwareCpu = "Haswell-v2,-pcid,-x2apic,-tsc-deadline,-invpcid",
        Console = "ttyS0",
        ArchitectureKernelArguments = "no_timer_check",
        HotplugGlobals = ["ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"],
        DebianPackage = "qemu-system-x86",
        Probe = ProbeGuest.X86,
    };

    /// <summary>
    /// AArch64 on virt with a GICv3 (the interrupt controller of every current arm64 server and of
    /// QEMU's HVF). Emulated, the CPU is a named Cortex-A72 (ARMv8.0): a fixed model moves between
    /// hosts, and it has no pointer authentication, which TCG emulates slowly. KVM and HVF can only
    /// give the guest the host's own CPU. HVF on Apple silicon has a 36-bit guest physical space,
    /// too small for virt's high PCIe windows, hence highmem=off there (guest RAM stays below 3 GiB).
    /// </summary>
    public static readonly GuestArchitecture Arm64 = new()
    {
        Name = "arm64",
        QemuName = "aarch64",
        RuntimeIdentifier = "linux-arm64",
        MachineType = "virt",
        MachineOptions = "gic-version=3",
        HvfMachineOptions = "highmem=off",
        EmulatedCpu = "cortex-a72",
        HardwareCpu = "host",
        Console = "ttyAMA0",
        DebianPackage = "qemu-system-arm",
        Probe = ProbeGuest.Arm64,
    };

    /// <summary>Every architecture there are guests for.</summary>
    public static IReadOnlyList<GuestArchitecture> All { get; } = [Amd64, Arm64];

    /// <summary>The guest of this host's own instruction set (arm64 on Apple silicon and Linux arm64, else amd64).</summary>
    public static GuestArchitecture Host => For(RuntimeInformation.OSArchitecture);

    /// <summary>OCI's name: amd64, arm64 (what an image's platform says).</summary>
    public required string Name { get; init; }

    /// <summary>QEMU's name, as in qemu-system-NAME: x86_64, aarch64.</summary>
    public required string QemuName { get; init; }

    /// <summary>The runtime identifier of the guest files (kernel, modules, agent): linux-x64, linux-arm64.</summary>
    public required string RuntimeIdentifier { get; init; }

    /// <summary>The QEMU machine type.</summary>
    public required string MachineType { get; init; }

    /// <summary>Machine properties every VM of this architecture gets, comma-separated, or empty.</summary>
    public string MachineOptions { get; init; } = "";

    /// <summary>Machine properties added under HVF only.</summary>
    public string HvfMachineOptions { get; init; } = "";

    /// <summary>The CPU model under TCG.</summary>
    public required string EmulatedCpu { get; init; }

    /// <summary>The CPU model under a hypervisor (KVM, HVF, WHPX).</summary>
    public required string HardwareCpu { get; init; }

    /// <summary>The serial console device as the guest kernel names it.</summary>
    public required string Console { get; init; }

    /// <summary>Kernel arguments only this architecture's kernel understands.</summary>
    public string ArchitectureKernelArguments { get; init; } = "";

    /// <summary>
    /// -global settings that hand PCIe hot-plug to the guest's native pciehp: q35's ACPI hot-plug
    /// missed a device plugged right after a restore; virt has no ACPI hot-plug to turn off.
    /// </summary>
    public IReadOnlyList<string> HotplugGlobals { get; init; } = [];

    /// <summary>The Debian package that has qemu-system-<see cref="QemuName"/>.</summary>
    public required string DebianPackage { get; init; }

    /// <summary>The firmware that measures a hypervisor for guests of this architecture.</summary>
    public required ProbeGuest Probe { get; init; }

    /// <summary>True when this is the host's own instruction set (a hypervisor can run it).</summary>
    public bool IsHost => Equals(Host);

    /// <summary>The linux/NAME platform of this architecture.</summary>
    public string Platform => "linux/" + Name;

    /// <summary>The CPU model a guest sees under <paramref name="accelerator"/>.</summary>
    public string CpuModel(Accelerator accelerator) => accelerator == Accelerator.Tcg ? EmulatedCpu : HardwareCpu;

    /// <summary>QEMU's -machine value (type and properties) under <paramref name="accelerator"/>, without the memory backend.</summary>
    public string Machine(Accelerator accelerator) => string.Join(',', new[]
    {
        MachineType, MachineOptions, accelerator == Accelerator.Hvf ? HvfMachineOptions : "",
    }.Where(part => part.Length > 0));

    /// <summary>
    /// Kernel arguments the engine always passes, before the caller's. panic=-1 with QEMU's
    /// -no-reboot turns a panic into a QEMU exit; init_on_free=1 zeroes freed guest pages (the
    /// decompressed-kernel and initramfs buffers, say), so they become holes in a snapshot's RAM file
    /// (a booted busybox guest: 94 MiB of non-zero pages without it, 55 MiB with it); quiet keeps the
    /// slow emulated UART out of the boot path.
    /// </summary>
    public string BaseKernelArguments => string.Join(' ', new[]
    {
        "console=" + Console, "panic=-1", ArchitectureKernelArguments, "init_on_free=1", "quiet",
    }.Where(part => part.Length > 0));

    /// <summary>The architecture of an image's platform architecture (amd64, x86_64, arm64, aarch64); SM2025 for others.</summary>
    public static GuestArchitecture FromPlatform(string architecture, string image) =>
        TryFromName(architecture) ?? throw Errors.UnsupportedGuestArchitecture(image, "linux/" + architecture);

    /// <summary>The architecture named by OCI's or QEMU's name, or null.</summary>
    public static GuestArchitecture? TryFromName(string? name) => name?.Trim().ToLowerInvariant() switch
    {
        "amd64" or "x86_64" or "x86-64" => Amd64,
        "arm64" or "aarch64" => Arm64,
        _ => null,
    };

    /// <summary>
    /// The architecture a baked image records (its manifest's machine architecture); images from
    /// before the record are amd64, the only guest there was.
    /// </summary>
    public static GuestArchitecture FromRecord(string? recorded, string image) =>
        string.IsNullOrEmpty(recorded) ? Amd64 : FromPlatform(recorded, image);

    /// <summary>The guest that runs natively on a host of <paramref name="hostArchitecture"/> (amd64 for those with none).</summary>
    public static GuestArchitecture For(Architecture hostArchitecture) => hostArchitecture == Architecture.Arm64 ? Arm64 : Amd64;

    public bool Equals(GuestArchitecture? other) => other is not null && other.Name == Name;

    public override int GetHashCode() => Name.GetHashCode(StringComparison.Ordinal);

    public override string ToString() => Name;
}
