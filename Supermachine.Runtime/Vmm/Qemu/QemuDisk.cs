using System.Diagnostics;
using Supermachine.Diagnostics;

namespace Supermachine.Vmm.Qemu;

/// <summary>
/// The VM's writable disk (the overlay upper, /dev/vdb in the guest), in its three shapes:
/// <list type="bullet">
/// <item>a cold boot formats a fresh sparse raw file with <c>mkfs.ext4</c> (about 20 ms for 8 GiB,
/// 4 MiB allocated: lazy inode tables, no journal);</item>
/// <item>a snapshot flattens the VM's disk into a compact qcow2 file (<c>qemu-img convert</c>): only
/// written clusters take space, so the artifact stays small on any file system and through any
/// copy or cache that drops holes, and hashing it reads its data, not 8 GiB of zeros (a sparse
/// 8 GiB raw file took 89 s to hash here);</item>
/// <item>a restore opens a fresh qcow2 overlay whose backing file is the snapshot's disk (about 10 ms),
/// so every restore writes only to its own overlay, never to the shared snapshot, and nothing is copied.</item>
/// </list>
/// No journal: the disk lives as long as its VM, and a snapshot is taken with the guest paused and
/// QEMU's caches flushed, so the disk and the RAM (page cache, ext4's in-memory state) agree.
/// </summary>
internal static class QemuDisk
{
    /// <summary>The writable disk of a cold-booted VM, in its runtime directory.</summary>
    public const string RawFile = "disk.raw";

    /// <summary>The copy-on-write overlay of a restored VM, in its runtime directory.</summary>
    public const string OverlayFile = "disk.qcow2";

    /// <summary>The disk of bake-time volume <paramref name="index"/> of a cold-booted VM, in its runtime directory.</summary>
    public static string VolumeRawFile(int index) => FormattableString.Invariant($"volume-{index}.raw");

    /// <summary>The copy-on-write overlay of bake-time volume <paramref name="index"/> of a restored VM.</summary>
    public static string VolumeOverlayFile(int index) => FormattableString.Invariant($"volume-{index}.qcow2");

    private static readonly string[] SbinFolders = ["/usr/sbin", "/sbin", "/usr/local/sbin", "/opt/homebrew/opt/e2fsprogs/sbin", "/usr/local/opt/e2fsprogs/sbin", "/opt/local/sbin"];

    /// <summary>Creates <paramref name="path"/> as a sparse <paramref name="sizeMiB"/> MiB ext4 file system.</summary>
    public static void Format(string path, int sizeMiB)
    {
        string mkfs = LocateTool("mkfs.ext4", "e2fsprogs", []);
        try
        {
            using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
            {
                file.SetLength((long)sizeMiB << 20);
            }
        }
        catch (IOException e)
        {
            throw Errors.DiskCreateFailed("create the file", path, e.Message, cause: e);
        }
        // lazy_itable_init with noinit_itable in the guest: inode tables are never zeroed, they stay holes.
        Run(mkfs, ["-q", "-F", "-t", "ext4", "-m", "0", "-O", "^has_journal", "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard,root_owner=0:0", path], "format it with mkfs.ext4", path);
    }

    /// <summary>Creates the qcow2 <paramref name="overlay"/> whose reads fall through to the qcow2 <paramref name="backing"/>, which is never written.</summary>
    public static void CreateOverlay(string qemuPath, string backing, string overlay) =>
        Run(QemuImg(qemuPath), ["create", "-q", "-f", "qcow2", "-b", Path.GetFullPath(backing), "-F", "qcow2", overlay], "create a copy-on-write overlay", overlay);

    /// <summary>
    /// Writes the contents of the disk <paramref name="source"/> (raw or qcow2, backing chain
    /// included) as one compact qcow2 file <paramref name="destination"/>; zero blocks are left out.
    /// The VM holding <paramref name="source"/> must be paused with its caches flushed.
    /// </summary>
    public static void Flatten(string qemuPath, string source, string destination)
    {
        string format = source.EndsWith(".qcow2", StringComparison.Ordinal) ? "qcow2" : "raw";
        string temporary = destination + ".tmp";
        // -U: the paused QEMU still holds its lock on the image; it writes nothing until resumed.
        Run(QemuImg(qemuPath), ["convert", "-U", "-q", "-f", format, "-O", "qcow2", source, temporary], "copy the disk into the snapshot", destination);
        File.Move(temporary, destination);
    }

    /// <summary>The length the guest sees of a qcow2 disk: its virtual size, read from the header (big-endian u64 at offset 24).</summary>
    public static long VirtualSize(string qcow2)
    {
        Span<byte> header = stackalloc byte[32];
        using var file = new FileStream(qcow2, FileMode.Open, FileAccess.Read, FileShare.Read);
        file.ReadExactly(header);
        if (header[0] != 'Q' || header[1] != 'F' || header[2] != 'I' || header[3] != 0xfb)
        {
            return -1;
        }
        return System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(header[24..]);
    }

    private static string QemuImg(string qemuPath) =>
        LocateTool("qemu-img", "qemu-utils", [Path.GetDirectoryName(qemuPath) ?? ""]);

    private static string LocateTool(string name, string package, string[] firstFolders)
    {
        string executable = name + (OperatingSystem.IsWindows() ? ".exe" : "");
        string[] folders = [.. firstFolders, .. (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries), .. SbinFolders];
        foreach (string folder in folders.Where(f => f.Length > 0))
        {
            string candidate = Path.Combine(folder, executable);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw Errors.DiskToolNotFound(executable, string.Join(", ", SbinFolders), package);
    }

    private static void Run(string tool, string[] arguments, string action, string path)
    {
        var start = new ProcessStartInfo(tool) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using Process process = Process.Start(start) ?? throw Errors.DiskCreateFailed(action, path, $"{tool} did not start");
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            string said = (error + output.Result).Trim();
            throw Errors.DiskCreateFailed(action, path, $"{Path.GetFileName(tool)} exited with code {process.ExitCode}" + (said.Length > 0 ? ": " + said : ""));
        }
    }
}
