using System.Runtime.InteropServices;
using System.Text;
using Supermachine.Diagnostics;

namespace Supermachine.FileSystem;

public sealed class DirectoryTreeWriterOptions
{
    /// <summary>Apply uid/gid (needs root); default: when running as root.</summary>
    public bool PreserveOwnership { get; init; } = DirectoryTreeWriter.IsRoot;

    /// <summary>
    /// Make device nodes (needs root) and keep setuid/setgid bits on files. Off by default: an
    /// image's <c>brw-rw-rw-</c> disk node or setuid shell has no business on the host; they are
    /// skipped or cleared and counted in one SM4012 warning.
    /// </summary>
    public bool PreserveDevices { get; init; }

    /// <summary>Receives SM2016 warnings for entries that were skipped, and the SM4012 summary.</summary>
    public Action<string>? Warning { get; init; }
}

/// <summary>
/// Writes a <see cref="FileSystemEntry"/> stream into a directory. Safety first: every path must be
/// relative without "..", nothing is ever written through a symlink (each parent is checked with
/// lstat, files are created with O_EXCL), hard links may only point inside the root. Device nodes
/// and setuid/setgid bits only with <see cref="DirectoryTreeWriterOptions.PreserveDevices"/> (and
/// device nodes only as root). Paths Linux cannot hold are SM2324. Directory modes and times
/// are applied last, deepest first, so writing their children does not disturb them.
/// </summary>
public static partial class DirectoryTreeWriter
{
    internal static bool IsRoot => OperatingSystem.IsLinux() && Geteuid() == 0;

    /// <summary>
    /// Throws SM2323 when <paramref name="directory"/> is a file and SM2322 when it is a directory
    /// with anything in it (unless <paramref name="allowNonEmpty"/>): a tree written there would mix with what is there.
    /// </summary>
    public static void EnsureEmptyTarget(string directory, bool allowNonEmpty = false)
    {
        string root = Path.GetFullPath(directory);
        EnsureNotFile(root);
        if (!allowNonEmpty && Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
        {
            throw Diagnostic.Error("SM2322", root);
        }
    }

    public static async Task<int> WriteAsync(IAsyncEnumerable<FileSystemEntry> entries, string directory, DirectoryTreeWriterOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new DirectoryTreeWriterOptions();
        string root = Path.GetFullPath(directory);
        EnsureNotFile(root);
        Directory.CreateDirectory(root);
        var state = new WriterState(root, options);
        int written = 0;
        await foreach (FileSystemEntry entry in entries.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            try
            {
                if (await state.WriteAsync(entry, cancellationToken).ConfigureAwait(false))
                {
                    written++;
                }
            }
            catch (PathTooLongException e)
            {
                throw Diagnostic.Error(e, "SM2324", entry.Path, root, e.Message);
            }
        }
        written += state.Finish();
        return written;
    }

    private static void EnsureNotFile(string root)
    {
        if (File.Exists(root))
        {
            throw Diagnostic.Error("SM2323", root);
        }
    }

    /// <summary>Why Linux cannot hold <paramref name="full"/> (a name over 255 bytes, a path over 4095), or null.</summary>
    private static string? TooLong(string full)
    {
        int bytes = Encoding.UTF8.GetByteCount(full);
        if (bytes > 4095)
        {
            return $"the full path would be {bytes} bytes long";
        }
        string? longName = full.Split('/').FirstOrDefault(part => Encoding.UTF8.GetByteCount(part) > 255);
        return longName is null ? null : $"the name '{longName[..32]}...' is {Encoding.UTF8.GetByteCount(longName)} bytes long";
    }

    private sealed class WriterState(string root, DirectoryTreeWriterOptions options)
    {
        private readonly HashSet<string> _verifiedDirectories = new(StringComparer.Ordinal) { "" };
        private readonly List<FileSystemEntry> _directories = [];
        private readonly List<FileSystemEntry> _pendingLinks = [];
        private int _skippedDevices;
        private int _clearedSetIds;

        public async Task<bool> WriteAsync(FileSystemEntry entry, CancellationToken cancellationToken)
        {
            if (!IsSafeRelative(entry.Path))
            {
                Warn(entry.Path, "the path is absolute or contains '..'");
                return false;
            }
            if (TooLong(Full(entry.Path)) is string tooLong)
            {
                throw Diagnostic.Error("SM2324", entry.Path, root, tooLong);
            }
            if (entry.Path.Length == 0)
            {
                if (entry.Type == FileSystemEntryType.Directory)
                {
                    _directories.Add(entry);
                }
                return false;
            }
            if (!EnsureParent(entry.Path))
            {
                Warn(entry.Path, "a parent directory is a symlink or not a directory (no writes through symlinks)");
                return false;
            }
            string full = Full(entry.Path);
            FileSystemInfo? existing = Lstat(full);
            if (existing is not null && !(entry.Type == FileSystemEntryType.Directory && IsRealDirectory(existing)))
            {
                Remove(existing);
                _verifiedDirectories.RemoveWhere(d => d == entry.Path || d.StartsWith(entry.Path + "/", StringComparison.Ordinal));
            }
            switch (entry.Type)
            {
                case FileSystemEntryType.Directory:
                    Directory.CreateDirectory(full);
                    _verifiedDirectories.Add(entry.Path);
                    _directories.Add(entry);
                    return true;
                case FileSystemEntryType.RegularFile:
                    await using (var output = new FileStream(full, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
                    {
                        if (entry.OpenContent is not null)
                        {
                            await using Stream content = entry.OpenContent();
                            await content.CopyToAsync(output, 1 << 16, cancellationToken).ConfigureAwait(false);
                        }
                    }
                    ApplyMetadata(full, entry, isSymlink: false);
                    return true;
                case FileSystemEntryType.Symlink:
                    File.CreateSymbolicLink(full, entry.LinkTarget ?? "");
                    ApplyMetadata(full, entry, isSymlink: true);
                    return true;
                case FileSystemEntryType.HardLink:
                    if (TryLink(entry))
                    {
                        return true;
                    }
                    _pendingLinks.Add(entry); // its target arrives later in the stream
                    return false;
                case FileSystemEntryType.Fifo:
                    if (!OperatingSystem.IsWindows())
                    {
                        Check(Mkfifo(full, (uint)entry.Mode & 0xfff), full);
                        ApplyMetadata(full, entry, isSymlink: false);
                        return true;
                    }
                    Warn(entry.Path, "fifos cannot be made on this OS");
                    return false;
                case FileSystemEntryType.CharacterDevice or FileSystemEntryType.BlockDevice:
                    if (!options.PreserveDevices)
                    {
                        _skippedDevices++;
                        return false;
                    }
                    if (!IsRoot)
                    {
                        Warn(entry.Path, "device nodes need root");
                        return false;
                    }
                    uint kind = entry.Type == FileSystemEntryType.CharacterDevice ? 0x2000u : 0x6000u;
                    Check(Mknod(full, kind | ((uint)entry.Mode & 0xfff), MakeDev(entry.DeviceMajor, entry.DeviceMinor)), full);
                    ApplyMetadata(full, entry, isSymlink: false);
                    return true;
                default:
                    Warn(entry.Path, $"{entry.Type} entries are not written to directories");
                    return false;
            }
        }

        public int Finish()
        {
            int written = 0;
            foreach (FileSystemEntry link in _pendingLinks)
            {
                if (TryLink(link))
                {
                    written++;
                }
                else
                {
                    Warn(link.Path, $"its hard-link target '{link.LinkTarget}' is missing or not a regular file inside the root");
                }
            }
            foreach (FileSystemEntry dir in _directories.OrderByDescending(d => d.Path.Count(c => c == '/')).ThenByDescending(d => d.Path.Length))
            {
                ApplyMetadata(Full(dir.Path), dir, isSymlink: false);
            }
            if (_skippedDevices + _clearedSetIds > 0)
            {
                options.Warning?.Invoke(Diagnostic.Format("SM4012", _skippedDevices, _clearedSetIds, root));
            }
            return written;
        }

        private bool TryLink(FileSystemEntry entry)
        {
            string? target = entry.LinkTarget;
            if (target is null || !IsSafeRelative(target) || target.Length == 0)
            {
                return false;
            }
            string targetFull = Full(target);
            string parent = target.Contains('/') ? target[..target.LastIndexOf('/')] : "";
            // The target must be a regular file reached without symlinks, or the link could pin a file outside.
            if (!ParentChainIsReal(parent) || Lstat(targetFull) is not FileInfo { LinkTarget: null })
            {
                return false;
            }
            string full = Full(entry.Path);
            if (Lstat(full) is { } existing)
            {
                Remove(existing);
            }
            Check(Link(targetFull, full), full);
            return true;
        }

        private bool EnsureParent(string path)
        {
            string parent = path.Contains('/') ? path[..path.LastIndexOf('/')] : "";
            if (_verifiedDirectories.Contains(parent))
            {
                return true;
            }
            string current = "";
            foreach (string part in parent.Split('/'))
            {
                current = current.Length == 0 ? part : current + "/" + part;
                if (_verifiedDirectories.Contains(current))
                {
                    continue;
                }
                FileSystemInfo? info = Lstat(Full(current));
                if (info is null)
                {
                    Directory.CreateDirectory(Full(current));
                }
                else if (!IsRealDirectory(info))
                {
                    return false;
                }
                _verifiedDirectories.Add(current);
            }
            return true;
        }

        private bool ParentChainIsReal(string parent)
        {
            string current = "";
            foreach (string part in parent.Split('/', StringSplitOptions.RemoveEmptyEntries))
            {
                current = current.Length == 0 ? part : current + "/" + part;
                if (!_verifiedDirectories.Contains(current) && (Lstat(Full(current)) is not { } info || !IsRealDirectory(info)))
                {
                    return false;
                }
            }
            return true;
        }

        private void ApplyMetadata(string full, FileSystemEntry entry, bool isSymlink)
        {
            if (OperatingSystem.IsWindows())
            {
                return;
            }
            if (options.PreserveOwnership)
            {
                Check(Lchown(full, entry.Uid, entry.Gid), full);
            }
            if (!isSymlink)
            {
                const int SetId = 0xc00; // setuid, setgid (sticky stays: /tmp needs it)
                int mode = entry.Mode & 0xfff;
                if ((mode & SetId) != 0 && !options.PreserveDevices && entry.Type != FileSystemEntryType.Directory)
                {
                    mode &= ~SetId;
                    _clearedSetIds++;
                }
                // After chown, which clears setuid/setgid.
                File.SetUnixFileMode(full, (UnixFileMode)mode);
            }
            foreach (var (name, value) in entry.ExtendedAttributes)
            {
                if (Lsetxattr(full, name, value, (nuint)value.Length, 0) != 0)
                {
                    Warn(entry.Path, $"extended attribute {name} could not be set (errno {Marshal.GetLastPInvokeError()})");
                }
            }
            if (OperatingSystem.IsLinux())
            {
                Span<long> times = [entry.ModificationTime, 0, entry.ModificationTime, 0];
                unsafe
                {
                    fixed (long* t = times)
                    {
                        Utimensat(-100, full, t, 0x100);
                    }
                }
            }
            else if (!isSymlink)
            {
                File.SetLastWriteTimeUtc(full, DateTimeOffset.FromUnixTimeSeconds(entry.ModificationTime).UtcDateTime);
            }
        }

        private string Full(string relative) => relative.Length == 0 ? root : Path.Combine(root, relative);

        private void Warn(string path, string reason) => options.Warning?.Invoke(Diagnostic.Format("SM2016", path, root, reason));
    }

    private static bool IsSafeRelative(string path) =>
        !path.StartsWith('/') && !path.Split('/').Any(p => p is ".." or "." || p.Contains('\0')) && !path.Contains("//", StringComparison.Ordinal);

    private static FileSystemInfo? Lstat(string full)
    {
        var file = new FileInfo(full);
        if (file.Exists || file.LinkTarget is not null)
        {
            return file;
        }
        var dir = new DirectoryInfo(full);
        return dir.Exists ? dir : (dir.LinkTarget is not null ? dir : null);
    }

    private static bool IsRealDirectory(FileSystemInfo info) => info is DirectoryInfo && info.LinkTarget is null;

    private static void Remove(FileSystemInfo info)
    {
        if (IsRealDirectory(info))
        {
            Directory.Delete(info.FullName, recursive: true);
        }
        else
        {
            File.Delete(info.FullName);
        }
    }

    private static ulong MakeDev(int major, int minor) =>
        (((ulong)(uint)major & 0xfffff000UL) << 32) | (((ulong)(uint)major & 0xfffUL) << 8) | (((ulong)(uint)minor & 0xffffff00UL) << 12) | ((ulong)(uint)minor & 0xffUL);

    private static void Check(int result, string path)
    {
        if (result != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new IOException($"{path}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
    }

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint Geteuid();

    [LibraryImport("libc", EntryPoint = "lchown", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Lchown(string path, int uid, int gid);

    [LibraryImport("libc", EntryPoint = "mkfifo", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Mkfifo(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "mknod", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Mknod(string path, uint mode, ulong dev);

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Link(string existing, string newPath);

    [LibraryImport("libc", EntryPoint = "lsetxattr", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Lsetxattr(string path, string name, byte[] value, nuint size, int flags);

    [LibraryImport("libc", EntryPoint = "utimensat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int Utimensat(int dirfd, string path, long* times, int flags);
}
