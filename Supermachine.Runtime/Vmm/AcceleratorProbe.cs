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
        TimeSpan? elapsed = (runProbe ?? ((path, accelerator) => facts.Architecture.Probe.Run(path, accelerator, ProbeTimeout)))(qemuPath, candidate);
        return elapsed switch
        {
            null => new AcceleratorChoice(Accelerator.Tcg, $"a probe guest did not run with -accel {name}; software emulation"),
            TimeSpan t when t > FastEnough => new AcceleratorChoice(Accelerator.Tcg, $"a probe guest took {t.TotalMilliseconds:F0} ms with -accel {name} (hardware needs < {FastEnough.TotalMilliseconds:F0} ms); software emulation"),
            TimeSpan t => new AcceleratorChoice(candidate, $"a probe guest ran in {t.TotalMilliseconds:F0} ms with -accel {name}"),
        };
    }
}
