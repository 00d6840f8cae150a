using System.Runtime.InteropServices;

namespace Supermachine.Vmm;

/// <summary>The host operating systems the accelerator choice tells apart.</summary>
internal enum HostOS
{
    Linux,
    MacOS,
    Windows,
    Other,
}

/// <summary>
/// What the accelerator choice needs to know about this host, read once, so the decision itself
/// (<see cref="AcceleratorProbe.Measure"/>) is a pure function that tests feed a Mac or an arm64
/// server without having one. Only the facts of the running OS are read: no /dev or /sys paths on
/// macOS, no sysctl on Linux.
/// </summary>
internal sealed record HostFacts
{
    public required HostOS OS { get; init; }

    /// <summary>The guest this host's CPU runs natively.</summary>
    public required GuestArchitecture Architecture { get; init; }

    /// <summary>Linux: /dev/kvm exists.</summary>
    public bool DevKvmExists { get; init; }

    /// <summary>Linux: /dev/kvm is the kvm_pvm module (no hardware virtualization underneath).</summary>
    public bool KvmPvm { get; init; }

    /// <summary>Linux: why /dev/kvm cannot be opened read-write by this user, or null when it can.</summary>
    public string? DevKvmError { get; init; }

    /// <summary>macOS: the kern.hv_support sysctl (Hypervisor.framework usable), null when unreadable.</summary>
    public bool? HvSupport { get; init; }

    public static HostFacts Read()
    {
        var architecture = GuestArchitecture.Host;
        if (OperatingSystem.IsLinux())
        {
            bool exists = File.Exists("/dev/kvm");
            string? error = null;
            if (exists)
            {
                try
                {
                    using FileStream probe = new("/dev/kvm", FileMode.Open, FileAccess.ReadWrite);
                }
                catch (Exception e) when (e is UnauthorizedAccessException or IOException)
                {
                    error = e.Message;
                }
            }
            return new HostFacts { OS = HostOS.Linux, Architecture = architecture, DevKvmExists = exists, KvmPvm = Directory.Exists("/sys/module/kvm_pvm"), DevKvmError = error };
        }
        if (OperatingSystem.IsMacOS())
        {
            return new HostFacts { OS = HostOS.MacOS, Architecture = architecture, HvSupport = MacSysctl.ReadInt32("kern.hv_support") is int value ? value == 1 : null };
        }
        return new HostFacts { OS = OperatingSystem.IsWindows() ? HostOS.Windows : HostOS.Other, Architecture = architecture };
    }
}

/// <summary>sysctlbyname(3) of libSystem, for the macOS facts (there is no /proc or /sys to read there).</summary>
internal static partial class MacSysctl
{
    /// <summary>The integer value of sysctl <paramref name="name"/>, or null when it does not exist or cannot be read.</summary>
    public static unsafe int? ReadInt32(string name)
    {
        int value = 0;
        nuint size = sizeof(int);
        try
        {
            return SysctlByName(name, &value, &size, null, 0) == 0 && size == sizeof(int) ? value : null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    [LibraryImport("libSystem.dylib", EntryPoint = "sysctlbyname", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int SysctlByName(string name, void* oldValue, nuint* oldSize, void* newValue, nuint newSize);
}
