using System.Diagnostics;
using Supermachine.Diagnostics;

namespace Supermachine.Vmm.Qemu;

/// <summary>
/// Finds <c>qemu-system-ARCH</c>: SUPERMACHINE_QEMU (a full path) wins, then PATH, then the usual
/// install folders of each OS (Homebrew's and MacPorts' on macOS, which a GUI-started process
/// does not have on PATH). A miss is SM3101/SM3102 naming what to install. SUPERMACHINE_QEMU names
/// one binary; a guest of another architecture uses its qemu-system-ARCH sibling when there is one.
/// </summary>
internal static class QemuLocator
{
    public const string EnvironmentVariable = "SUPERMACHINE_QEMU";

    private static readonly ConcurrentCache<string, string> Versions = new();

    /// <summary>The full path of the QEMU system emulator for <paramref name="architecture"/>.</summary>
    public static string Locate(string? architecture = null)
    {
        string arch = architecture ?? GuestArchitecture.Host.QemuName;
        string executable = ExecutableName(arch);
        string? configured = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(configured))
        {
            if (SiblingFor(configured, arch) is string sibling)
            {
                if (IsExecutableFile(sibling))
                {
                    return Path.GetFullPath(sibling);
                }
            }
            else if (IsExecutableFile(configured))
            {
                return Path.GetFullPath(configured);
            }
            else
            {
                throw Errors.QemuPathInvalid(configured, executable);
            }
        }
        IEnumerable<string> folders = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(WellKnownFolders(CurrentOS));
        foreach (string folder in folders)
        {
            string candidate = Path.Combine(folder, executable);
            if (IsExecutableFile(candidate))
            {
                return candidate;
            }
        }
        throw Errors.QemuNotFound(executable, InstallHint(arch));
    }

    /// <summary>"7.2.22" style version of the QEMU at <paramref name="qemuPath"/>, asked once per process.</summary>
    public static string GetVersion(string qemuPath) => Versions.GetOrAdd(qemuPath, static path =>
    {
        var start = new ProcessStartInfo(path, "--version") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using Process process = Process.Start(start) ?? throw Errors.QemuPathInvalid(path, Path.GetFileName(path));
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        // "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"
        const string marker = "version ";
        int at = output.IndexOf(marker, StringComparison.Ordinal);
        if (at < 0)
        {
            return output.Trim();
        }
        string rest = output[(at + marker.Length)..];
        int end = rest.IndexOfAny([' ', '\n', '\r']);
        return end < 0 ? rest.Trim() : rest[..end];
    });

    private static string InstallHint(string arch) =>
        OperatingSystem.IsMacOS() ? "brew install qemu"
        : OperatingSystem.IsWindows() ? "winget install SoftwareFreedomConservancy.QEMU, then add its folder to PATH"
        : $"Debian/Ubuntu: sudo apt-get install {GuestArchitecture.TryFromName(arch)?.DebianPackage ?? "qemu-system"}; Fedora: sudo dnf install qemu-system-{(arch == "x86_64" ? "x86" : arch)}";

    /// <summary>qemu-system-ARCH, with .exe on Windows.</summary>
    public static string ExecutableName(string architecture) => "qemu-system-" + architecture + (OperatingSystem.IsWindows() ? ".exe" : "");

    /// <summary>
    /// The qemu-system-<paramref name="architecture"/> beside <paramref name="configured"/> when that is
    /// a qemu-system binary of another architecture, else null (the configured path is meant as it is).
    /// </summary>
    internal static string? SiblingFor(string configured, string architecture)
    {
        string name = Path.GetFileNameWithoutExtension(configured);
        const string prefix = "qemu-system-";
        if (!name.StartsWith(prefix, StringComparison.Ordinal) || name[prefix.Length..] == architecture)
        {
            return null;
        }
        return Path.Combine(Path.GetDirectoryName(configured) ?? "", prefix + architecture + Path.GetExtension(configured));
    }

    /// <summary>
    /// Where QEMU is installed beyond PATH: Homebrew (/opt/homebrew on Apple silicon, /usr/local on
    /// Intel) and MacPorts (/opt/local) on macOS; the distribution's folders on Linux.
    /// </summary>
    internal static IReadOnlyList<string> WellKnownFolders(HostOS os) => os switch
    {
        HostOS.MacOS => ["/opt/homebrew/bin", "/usr/local/bin", "/opt/local/bin"],
        HostOS.Windows => [Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.ProgramFiles), "qemu")],
        _ => ["/usr/bin", "/usr/local/bin", "/usr/libexec"],
    };

    private static HostOS CurrentOS =>
        OperatingSystem.IsMacOS() ? HostOS.MacOS : OperatingSystem.IsWindows() ? HostOS.Windows : OperatingSystem.IsLinux() ? HostOS.Linux : HostOS.Other;

    private static bool IsExecutableFile(string path)
    {
        if (!File.Exists(path))
        {
            return false;
        }
        if (OperatingSystem.IsWindows())
        {
            return true;
        }
        UnixFileMode mode = File.GetUnixFileMode(path);
        return (mode & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
    }
}

