using System.Diagnostics;

namespace Supermachine.Dockerfile.Building;

/// <summary>
/// Names of the build's scratch files (root images, downloads, measured snapshots)
/// carry the process id, <c>KIND-PID-REST</c>, so a later build can remove what a killed one left
/// behind without touching files of builds still running.
/// </summary>
internal static class ScratchFiles
{
    public static string Name(string kind, string rest) => $"{kind}-{Environment.ProcessId}-{rest}";

    /// <summary>Deletes the scratch files and directories in <paramref name="directory"/> whose process is gone.</summary>
    public static void DeleteOrphans(string directory)
    {
        if (!Directory.Exists(directory))
        {
            return;
        }
        foreach (string path in Directory.EnumerateFileSystemEntries(directory))
        {
            string[] parts = Path.GetFileName(path).Split('-', 3);
            if (parts.Length == 3 && int.TryParse(parts[1], out int pid) && pid != Environment.ProcessId && !IsRunning(pid))
            {
                try
                {
                    if (Directory.Exists(path))
                    {
                        Directory.Delete(path, recursive: true);
                    }
                    else
                    {
                        File.Delete(path);
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // Another build is sweeping it too, or it is not ours to remove: leave it.
                }
            }
        }
    }

    private static bool IsRunning(int pid)
    {
        if (OperatingSystem.IsLinux())
        {
            return Directory.Exists($"/proc/{pid}");
        }
        try
        {
            using Process process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
