using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Supermachine.Vmm.ProcessLifetime;

/// <summary>
/// Starts engine processes so that they die with this process, even when it is killed with SIGKILL.
/// Both ways hold the read end of a pipe (the child's stdin) whose write end only this process has
/// (O_CLOEXEC, so no other child inherits it): when we die the kernel closes it, the watcher sees
/// EOF and kills the engine. A parent-death signal set from .NET would follow the forking thread,
/// not the process, and .NET runs no code between fork and exec, hence a watcher:
/// <list type="bullet">
/// <item>On Linux, the static <c>owner-watch</c> helper, which also sets a parent-death signal on
/// the engine, so a SIGKILL of the helper itself takes the engine down.</item>
/// <item>Where there is no helper (macOS, where none can be built here, or a Linux host without the
/// set-up's), <c>/bin/sh</c>: it starts the engine in the background and a subshell that blocks
/// reading the pipe and kills the engine at EOF. Nothing to build or ship. Killing the shell
/// itself does not reach the engine, so <see cref="Kill"/> ends the pipe instead.</item>
/// </list>
/// Windows has neither; there a child is killed only on a clean exit of this process
/// (<see cref="Watched"/> says which).
/// </summary>
internal static class OwnerWatch
{
    /// <summary>A path to the owner-watch helper, or "shell" for the /bin/sh watcher.</summary>
    public const string EnvironmentVariable = "SUPERMACHINE_OWNER_WATCH";

    /// <summary>
    /// The /bin/sh watcher, run as <c>sh -c SCRIPT PROGRAM ARGS...</c>. fd 3 keeps the pipe for the
    /// subshell (a background job's stdin is /dev/null in a non-interactive shell); the engine gets
    /// neither. The exit status is the engine's.
    /// </summary>
    internal const string ShellWatcher =
        "exec 3<&0; \"$0\" \"$@\" </dev/null 3<&- & e=$!; " +
        "{ read -r _ <&3; kill -9 $e 2>/dev/null; } & w=$!; " +
        "wait $e; rc=$?; kill $w 2>/dev/null; exit $rc";

    private const string ShellPath = "/bin/sh";

    private static readonly Lazy<string?> HelperPath = new(FindHelper);

    /// <summary>The helper in use, or null when engine processes are started without it.</summary>
    public static string? Helper => HelperPath.Value;

    /// <summary>How this host watches engine processes.</summary>
    public static OwnerWatchMode Mode => Helper is not null ? OwnerWatchMode.Helper
        : !OperatingSystem.IsWindows() && File.Exists(ShellPath) ? OwnerWatchMode.Shell
        : OwnerWatchMode.None;

    /// <summary>True when started processes are guaranteed to die with this one.</summary>
    public static bool Watched => Mode != OwnerWatchMode.None;

    /// <summary>Why processes are (or are not) watched, for a log line.</summary>
    public static string Describe() => Mode switch
    {
        OwnerWatchMode.Helper => $"engine processes die with this process (owner-watch at {Helper})",
        OwnerWatchMode.Shell => $"engine processes die with this process ({ShellPath} watches a pipe from it)",
        _ => $"no owner watch on this OS: engine processes outlive a killed owner",
    };

    /// <summary>
    /// Starts <paramref name="program"/> with <paramref name="arguments"/> under the watcher. Its
    /// stdout and stderr are redirected for the caller to read; stdin is the watch pipe and must be
    /// left alone (closing it kills the child).
    /// </summary>
    public static Process Start(string program, IEnumerable<string> arguments, string? workingDirectory = null) =>
        Start(program, arguments, workingDirectory, Mode);

    /// <summary>The (file, arguments) that run <paramref name="program"/> under <paramref name="mode"/>.</summary>
    internal static (string File, List<string> Arguments) CommandFor(string program, IEnumerable<string> arguments, OwnerWatchMode mode) => mode switch
    {
        OwnerWatchMode.Helper => (Helper!, [program, .. arguments]),
        OwnerWatchMode.Shell => (ShellPath, ["-c", ShellWatcher, program, .. arguments]),
        _ => (program, [.. arguments]),
    };

    internal static Process Start(string program, IEnumerable<string> arguments, string? workingDirectory, OwnerWatchMode mode)
    {
        (string file, List<string> args) = CommandFor(program, arguments, mode);
        var start = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? "",
        };
        foreach (string argument in args)
        {
            start.ArgumentList.Add(argument);
        }
        Process process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}.");
        if (mode == OwnerWatchMode.None)
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

    /// <summary>
    /// Kills a process started by <see cref="Start(string, IEnumerable{string}, string?)"/> and the
    /// engine under it: closing the watch pipe makes either watcher kill the engine and exit. The
    /// watcher is killed outright only if it has not gone within a few seconds: killed first, the
    /// shell's watching subshell might not have been forked yet, and nothing would kill the engine.
    /// </summary>
    public static void Kill(Process process)
    {
        try
        {
            process.StandardInput.Close();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
        {
        }
        try
        {
            if (!process.WaitForExit(TimeSpan.FromSeconds(5)))
            {
                process.Kill();
            }
        }
        catch (InvalidOperationException)
        {
        }
    }

    private static string? FindHelper()
    {
        // The helper is a Linux binary (prctl); other hosts use the shell.
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }
        IEnumerable<string> candidates = Locations.NativeAssetDirectories.Search(Locations.NativeAssetDirectories.HostRuntimeIdentifier).Select(dir => Path.Combine(dir, "owner-watch"));
        string? configured = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (configured == "shell")
        {
            return null;
        }
        if (configured is { Length: > 0 })
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

/// <summary>How engine processes are tied to this one.</summary>
internal enum OwnerWatchMode
{
    /// <summary>Under the owner-watch helper (Linux).</summary>
    Helper,

    /// <summary>Under /bin/sh watching the pipe (macOS, or Linux without the helper).</summary>
    Shell,

    /// <summary>Not watched (Windows): killed only when this process exits cleanly.</summary>
    None,
}
