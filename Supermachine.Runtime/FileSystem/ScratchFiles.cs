using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Supermachine.FileSystem;

/// <summary>
/// Scratch files and directories a run makes and normally removes itself (VM runtime directories,
/// staging and replaced bake directories, build scratch). Their names carry the owning process,
/// <c>KIND-PID_START-REST</c>, or <c>NAME.KIND-PID_START</c> for a sibling of a destination, so a
/// later run can remove what a killed one left behind without touching those of runs still going.
/// A process counts as alive only if its PID runs and started at START (clock ticks since boot,
/// /proc/PID/stat field 22): a PID recycled by an unrelated process does not keep leftovers alive.
/// </summary>
internal static partial class ScratchFiles
{
    private static readonly ConcurrentDictionary<string, bool> Swept = new(StringComparer.Ordinal);

    /// <summary>This process as it appears in scratch names: PID_START.</summary>
    public static string Owner { get; } = OwnerOf(Environment.ProcessId);

    /// <summary>A scratch name in a shared directory: KIND-PID_START-REST.</summary>
    public static string Name(string kind, string rest) => $"{kind}-{Owner}-{rest}";

    /// <summary>A scratch sibling of <paramref name="path"/>: PATH.KIND-PID_START.</summary>
    public static string Sibling(string path, string kind) =>
        Path.TrimEndingDirectorySeparator(Path.GetFullPath(path)) + "." + kind + "-" + Owner;

    /// <summary>
    /// Deletes the entries of <paramref name="directory"/> named as scratch of one of
    /// <paramref name="kinds"/> whose process is gone. Returns how many it removed.
    /// </summary>
    public static int DeleteOrphans(string directory, params string[] kinds)
    {
        if (!Directory.Exists(directory))
        {
            return 0;
        }
        int removed = 0;
        IEnumerable<string> entries;
        try
        {
            entries = Directory.EnumerateFileSystemEntries(directory).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
        foreach (string path in entries)
        {
            Match match = ScratchName().Match(Path.GetFileName(path));
            if (!match.Success || !kinds.Contains(match.Groups["kind"].Value, StringComparer.Ordinal)
                || !int.TryParse(match.Groups["pid"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out int pid)
                || !long.TryParse(match.Groups["start"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out long start)
                || IsAlive(pid, start))
            {
                continue;
            }
            try
            {
                if (new DirectoryInfo(path) is { Exists: true, LinkTarget: null })
                {
                    Directory.Delete(path, recursive: true);
                }
                else
                {
                    File.Delete(path);
                }
                removed++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Another run is sweeping it too, or it is not ours to remove: leave it.
            }
        }
        return removed;
    }

    /// <summary><see cref="DeleteOrphans"/>, once per process and directory: for places every VM start passes through.</summary>
    public static void DeleteOrphansOnce(string directory, params string[] kinds)
    {
        if (Swept.TryAdd(Path.GetFullPath(directory) + "|" + string.Join(',', kinds), true))
        {
            DeleteOrphans(directory, kinds);
        }
    }

    /// <summary>PID_START of a running process (START 0 where the OS does not say).</summary>
    internal static string OwnerOf(int pid) => pid.ToString(CultureInfo.InvariantCulture) + "_" + (StartTime(pid) ?? 0).ToString(CultureInfo.InvariantCulture);

    /// <summary>True when process <paramref name="pid"/> runs and (if <paramref name="start"/> is known) started then.</summary>
    internal static bool IsAlive(int pid, long start)
    {
        if (pid == Environment.ProcessId)
        {
            return true;
        }
        if (OperatingSystem.IsLinux())
        {
            return StartTime(pid) is long actual && (start == 0 || actual == start);
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

    /// <summary>Field 22 of /proc/PID/stat (start time in clock ticks after boot); null when the process is gone or the OS has no /proc.</summary>
    internal static long? StartTime(int pid)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        // The command name (field 2) is in parentheses and may hold spaces or ')': count from the last ')'.
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // fields[0] is field 3 (state), so field 22 is fields[19].
        return fields.Length > 19 && long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out long ticks) ? ticks : null;
    }

    [GeneratedRegex(@"^(?:.*\.)?(?<kind>[a-z]+)-(?<pid>[0-9]{1,9})_(?<start>[0-9]{1,19})(?:-.*)?$", RegexOptions.CultureInvariant)]
    private static partial Regex ScratchName();
}
