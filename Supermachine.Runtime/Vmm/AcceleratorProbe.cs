using System.Diagnostics;
using Supermachine.Diagnostics;

namespace Supermachine.Vmm;

/// <summary>The accelerator an engine will use and why; the reason is meant for a log line.</summary>
internal sealed record AcceleratorChoice(Accelerator Accelerator, string Reason)
{
    public override string ToString() => $"{Accelerator.ToString().ToLowerInvariant()} ({Reason})";
}

/// <summary>
/// Picks the accelerator by OS and by measurement, never by assumption: KVM on Linux, HVF on
/// macOS, WHPX on Windows, each only when a tiny guest really runs fast with it, TCG otherwise.
/// A <c>/dev/kvm</c> can exist and still be no good: kvm_pvm (pagetable-based, no hardware
/// virtualization) runs an ordinary guest at about 1 MIPS, so a kernel never boots. The result is
/// measured once per process and QEMU binary; SUPERMACHINE_ACCELERATOR (or an explicit request)
/// overrides it.
/// </summary>
internal static class AcceleratorProbe
{
    public const string EnvironmentVariable = "SUPERMACHINE_ACCELERATOR";

    /// <summary>A guest that ran the probe slower than this is not hardware-accelerated.</summary>
    public static readonly TimeSpan FastEnough = TimeSpan.FromMilliseconds(1500);

    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(4);
    private static readonly ConcurrentCache<string, AcceleratorChoice> Measured = new();

    /// <summary>
    /// The accelerator for <paramref name="qemuPath"/> running an <paramref name="architecture"/>
    /// guest (null: the host's): <paramref name="requested"/> if given, else
    /// SUPERMACHINE_ACCELERATOR if set, else the measured choice. A foreign guest is emulated
    /// whatever the setting says (a hypervisor runs only its own instruction set); asking for
    /// anything but TCG for one explicitly is SM3111.
    /// </summary>
    public static AcceleratorChoice Choose(string qemuPath, Accelerator? requested = null, GuestArchitecture? architecture = null)
    {
        GuestArchitecture guest = architecture ?? GuestArchitecture.Host;
        if (!guest.IsHost)
        {
            if (requested is Accelerator asked and not Accelerator.Tcg)
            {
                throw Errors.ForeignGuestAccelerator(guest.Platform, QemuName(asked), GuestArchitecture.Host.Platform);
            }
            return Foreign(guest);
        }
        if (requested is Accelerator explicitChoice)
        {
            return new AcceleratorChoice(explicitChoice, "requested by the caller");
        }
        string? configured = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(configured) && !configured.Equals("auto", StringComparison.OrdinalIgnoreCase))
        {
            return new AcceleratorChoice(Parse(configured), $"{EnvironmentVariable}={configured.Trim()}");
        }
        return Measured.GetOrAdd(qemuPath, path => Measure(path, HostFacts.Read()));
    }

    /// <summary>The choice for a guest of another instruction set than the host's: emulation, and why.</summary>
    public static AcceleratorChoice Foreign(GuestArchitecture guest) => new(Accelerator.Tcg,
        $"a {guest.Platform} guest on a {GuestArchitecture.Host.Platform} host: no hypervisor runs a foreign instruction set, so every guest instruction is emulated");

    /// <summary>Parses kvm, hvf, whpx or tcg (any case); anything else is SM3103.</summary>
    public static Accelerator Parse(string value) => value.Trim().ToLowerInvariant() switch
    {
        "kvm" => Accelerator.Kvm,
        "hvf" => Accelerator.Hvf,
        "whpx" => Accelerator.Whpx,
        "tcg" => Accelerator.Tcg,
        _ => throw Errors.InvalidAccelerator(value),
    };

    /// <summary>QEMU's -accel name.</summary>
    public static string QemuName(Accelerator accelerator) => accelerator.ToString().ToLowerInvariant();

    /// <summary>
    /// The choice on a host with <paramref name="facts"/>: the OS's hypervisor when it is there and
    /// usable, confirmed by a probe guest where one exists for the host's instruction set (x86-64),
    /// else TCG with the reason.
    /// </summary>
    internal static AcceleratorChoice Measure(string qemuPath, HostFacts facts, Func<string, Accelerator, TimeSpan?>? runProbe = null)
    {
        Accelerator candidate;
        switch (facts.OS)
        {
            case HostOS.Linux:
                if (!facts.DevKvmExists)
                {
                    return new AcceleratorChoice(Accelerator.Tcg, "no /dev/kvm on this host; software emulation");
                }
                if (facts.KvmPvm)
                {
                    return new AcceleratorChoice(Accelerator.Tcg, "/dev/kvm is kvm_pvm (pagetable virtualization without hardware support, about 1 MIPS); software emulation is faster");
                }
                if (facts.DevKvmError is string error)
                {
                    return new AcceleratorChoice(Accelerator.Tcg, $"/dev/kvm is not usable by this user ({error}); add the user to the kvm group for hardware acceleration");
                }
                candidate = Accelerator.Kvm;
                break;
            case HostOS.MacOS:
                // Hypervisor.framework exists on every Mac since 10.10 but works only where the CPU
                // and the (virtual) machine allow it: the kernel says so in kern.hv_support.
                if (facts.HvSupport != true)
                {
                    return new AcceleratorChoice(Accelerator.Tcg, facts.HvSupport is null
                        ? "sysctl kern.hv_support cannot be read; software emulation"
                        : "kern.hv_support is 0 (no Hypervisor.framework on this Mac, e.g. inside a VM); software emulation");
                }
                candidate = Accelerator.Hvf;
                break;
            case HostOS.Windows:
                candidate = Accelerator.Whpx;
                break;
            default:
                return new AcceleratorChoice(Accelerator.Tcg, "no hardware accelerator known on this OS");
        }

        string name = QemuName(candidate);
        if (facts.Architecture != GuestArchitecture.Amd64)
        {
            // The probe guest is x86 real-mode code; elsewhere the OS's word is taken.
            return new AcceleratorChoice(candidate, facts.OS == HostOS.MacOS
                ? "kern.hv_support is 1 (Hypervisor.framework)"
                : $"the host OS's hypervisor (-accel {name}; not measured on this architecture)");
        }
        TimeSpan? elapsed = (runProbe ?? ((path, accelerator) => RunProbeGuest(path, accelerator, ProbeTimeout)))(qemuPath, candidate);
        return elapsed switch
        {
            null => new AcceleratorChoice(Accelerator.Tcg, $"a probe guest did not run with -accel {name}; software emulation"),
            TimeSpan t when t > FastEnough => new AcceleratorChoice(Accelerator.Tcg, $"a probe guest took {t.TotalMilliseconds:F0} ms with -accel {name} (hardware needs < {FastEnough.TotalMilliseconds:F0} ms); software emulation"),
            TimeSpan t => new AcceleratorChoice(candidate, $"a probe guest ran in {t.TotalMilliseconds:F0} ms with -accel {name}"),
        };
    }

    /// <summary>
    /// Boots a 64 KiB firmware that spins 20 million instructions with 20 000 port I/O exits, then
    /// writes to isa-debug-exit. Hardware virtualization finishes in tens of milliseconds (plus
    /// QEMU's start-up); emulated or paravirtual KVM takes seconds to minutes. Returns the wall time
    /// from process start to exit, or null when the guest did not finish or QEMU refused the accelerator.
    /// </summary>
    internal static TimeSpan? RunProbeGuest(string qemuPath, Accelerator accelerator, TimeSpan timeout)
    {
        string firmware = Path.Combine(Path.GetTempPath(), $"supermachine-probe-{Environment.ProcessId}-{Guid.NewGuid():N}.bin");
        try
        {
            File.WriteAllBytes(firmware, ProbeFirmware());
            var start = new ProcessStartInfo(qemuPath)
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (string arg in new[]
            {
                "-nodefaults", "-no-user-config", "-display", "none", "-machine", "q35", "-accel", QemuName(accelerator),
                "-m", "16", "-bios", firmware, "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            })
            {
                start.ArgumentList.Add(arg);
            }
            var clock = Stopwatch.StartNew();
            using Process process = Process.Start(start)!;
            _ = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
                return null;
            }
            clock.Stop();
            // isa-debug-exit turns the written 0 into exit status (0 << 1) | 1.
            return process.ExitCode == 1 ? clock.Elapsed : null;
        }
        catch (Exception e) when (e is IOException or System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return null;
        }
        finally
        {
            File.Delete(firmware);
        }
    }

    private static byte[] ProbeFirmware()
    {
        // 16-bit real mode at F000:0000, reached from the reset vector at F000:FFF0.
        byte[] code =
        [
            0x66, 0xB9, 0x20, 0x4E, 0x00, 0x00, // mov ecx, 20000
            0xE6, 0x80,                         // outer: out 0x80, al        (an I/O exit)
            0x66, 0xBA, 0xE8, 0x03, 0x00, 0x00, // mov edx, 1000
            0x66, 0x4A,                         // inner: dec edx
            0x75, 0xFC,                         // jnz inner
            0x66, 0x49,                         // dec ecx
            0x75, 0xF0,                         // jnz outer
            0xB0, 0x00,                         // mov al, 0
            0xE6, 0xF4,                         // out 0xf4, al               (isa-debug-exit)
            0xF4,                               // hlt
            0xEB, 0xFD,                         // jmp hlt
        ];
        byte[] image = new byte[64 * 1024];
        code.CopyTo(image, 0);
        byte[] resetVector = [0xEA, 0x00, 0x00, 0x00, 0xF0]; // jmp far F000:0000
        resetVector.CopyTo(image, 0xFFF0);
        return image;
    }
}
