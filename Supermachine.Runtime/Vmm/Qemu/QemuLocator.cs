using System.Diagnostics;
using System.Runtime.InteropServices;
using Supermachine.Diagnostics;

namespace Supermachine.Vmm.Qemu;

/// <summary>
/// Finds <c>qemu-system-ARCH</c>: SUPERMACHINE_QEMU (a full path) wins, then PATH, then the usual
/// install folders of each OS. A miss is SM3101/SM3102 naming what to install.
/// </summary>
internal static class QemuLocator
{
    public const string EnvironmentVariable = "SUPERMACHINE_QEMU";

    private static readonly ConcurrentCache<string, string> Versions = new();

    /// <summary>QEMU's name for the host architecture: x86_64 or aarch64.</summary>
    public static string HostArchitecture => RuntimeInformation.OSArchitecture switch
    {
        Architecture.Arm64 => "aarch64",
        _ => "x86_64",
    };

    /// <summary>The full path of the QEMU system emulator for <paramref name="architecture"/>.</summary>
    public static string Locate(string? architecture = null)
    {
        string arch = architecture ?? HostArchitecture;
        string executable = "qemu-system-" + arch + (OperatingSystem.IsWindows() ? ".exe" : "");
        string? configured = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(configured))
        {
            if (IsExecutableFile(configured))
            {
                return Path.GetFullPath(configured);
            }
            throw Errors.QemuPathInvalid(configured, executable);
        }
        IEnumerable<string> folders = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(WellKnownFolders());
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
        : arch == "aarch64" ? "Debian/Ubuntu: sudo apt-get install qemu-system-arm; Fedora: sudo dnf install qemu-system-aarch64"
        : "Debian/Ubuntu: sudo apt-get install qemu-system-x86; Fedora: sudo dnf install qemu-system-x86";

    private static IEnumerable<string> WellKnownFolders()
    {
        if (OperatingSystem.IsMacOS())
        {
            return ["/opt/homebrew/bin", "/usr/local/bin", "/opt/local/bin"];
        }
        if (OperatingSystem.IsWindows())
        {
            return [Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.ProgramFiles), "qemu")];
        }
        return ["/usr/bin", "/usr/local/bin", "/usr/libexec"];
    }

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

