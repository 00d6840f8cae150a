using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Supermachine.Vmm.ProcessLifetime;

/// <summary>
/// Starts engine processes so that they die with this process, even when it is killed with SIGKILL.
/// On Linux and macOS the child runs under the static <c>owner-watch</c> helper, which holds the
/// read end of a pipe whose write end only this process has (O_CLOEXEC, so no other child inherits
/// it): when we die the kernel closes it, the helper sees EOF and kills QEMU. A parent-death signal
/// set from .NET would follow the forking thread, not the process, and .NET runs no code between
/// fork and exec, hence the helper. Without it (not built, or another OS) the child is started
/// directly and only a clean exit of this process stops it; <see cref="Watched"/> says which.
/// </summary>
internal static class OwnerWatch
{
    public const string EnvironmentVariable = "SUPERMACHINE_OWNER_WATCH";

    private static readonly Lazy<string?> HelperPath = new(FindHelper);

    /// <summary>The helper in use, or null when engine processes are started unwatched.</summary>
    public static string? Helper => HelperPath.Value;

    /// <summary>True when started processes are guaranteed to die with this one.</summary>
    public static bool Watched => Helper is not null;

    /// <summary>Why processes are (or are not) watched, for a log line.</summary>
    public static string Describe() => Helper is string helper
        ? $"engine processes die with this process (owner-watch at {helper})"
        : $"owner-watch helper not found (set {EnvironmentVariable} or run eng/setup.sh): engine processes outlive a killed owner";

    /// <summary>
    /// Starts <paramref name="program"/> with <paramref name="arguments"/> under the helper. Its
    /// stdout and stderr are redirected for the caller to read; stdin is the watch pipe and must be
    /// left alone (closing it kills the child).
    /// </summary>
    public static Process Start(string program, IEnumerable<string> arguments, string? workingDirectory = null)
    {
        string? helper = Helper;
        var start = new ProcessStartInfo(helper ?? program)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? "",
        };
        if (helper is not null)
        {
            start.ArgumentList.Add(program);
        }
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        Process process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}.");
        if (helper is null)
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                try
                {
                    process.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                    // Already gone.
                }
            };
        }
        return process;
    }

    private static string? FindHelper()
    {
        if (OperatingSystem.IsWindows())
        {
            return null;
        }
        IEnumerable<string> candidates = Locations.NativeAssetDirectories.Search(Locations.NativeAssetDirectories.HostRuntimeIdentifier).Select(dir => Path.Combine(dir, "owner-watch"));
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } configured)
        {
            candidates = candidates.Prepend(configured);
        }
        foreach (string candidate in candidates)
        {
            if (File.Exists(candidate) && EnsureExecutable(candidate))
            {
                return Path.GetFullPath(candidate);
            }
        }
        return null;
    }

    // NuGet does not keep the executable bit when it extracts a package; put it back where we may.
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static bool EnsureExecutable(string path)
    {
        UnixFileMode mode = File.GetUnixFileMode(path);
        if ((mode & UnixFileMode.UserExecute) != 0)
        {
            return true;
        }
        try
        {
            File.SetUnixFileMode(path, mode | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
            return true;
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            return false;
        }
    }
}
