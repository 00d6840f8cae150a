using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Supermachine.Diagnostics;

namespace Supermachine.FileSystem;

/// <summary>
/// Walks a directory tree into a <see cref="FileSystemEntry"/> stream: depth first, names sorted by
/// their UTF-8 bytes, so the same tree always gives the same stream. Symlinks are never followed.
/// </summary>
/// <remarks>
/// On Linux every entry carries what <c>statx</c> and the xattr calls report: owner, group, mode
/// with setuid/setgid/sticky, mtime, device numbers and extended attributes; a second name of a
/// file with several links comes as a <see cref="FileSystemEntryType.HardLink"/> to the first name
/// met. Elsewhere only what .NET exposes is read (mode, mtime, size, link target; owner 0:0).
/// </remarks>
internal static partial class DirectoryTreeReader
{
    /// <summary>The entries of the tree at <paramref name="directory"/>, starting with the root itself ("").</summary>
    public static async IAsyncEnumerable<FileSystemEntry> ReadAsync(string directory, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await Task.CompletedTask.ConfigureAwait(false);
        foreach (FileSystemEntry entry in Read(directory))
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return entry;
        }
    }

    /// <summary>
    /// The bytes a file occupies on disk (its allocated 512-byte blocks): what a sparse file, such
    /// as a snapshot's RAM file, really costs. Elsewhere than Linux, its length.
    /// </summary>
    public static long AllocatedBytes(string path) =>
        OperatingSystem.IsLinux() ? (long)Native.LStat(path).Blocks * 512 : new FileInfo(path).Length;

    /// <summary>
    /// A short text that changes whenever the file at <paramref name="path"/> is written, replaced,
    /// truncated or has its metadata changed (inode, size, mtime and ctime to the nanosecond on
    /// Linux; size and mtime elsewhere): lets a verification already done be trusted until then.
    /// </summary>
    public static string ChangeStamp(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            var info = new FileInfo(path);
            return $"{info.Length}:{info.LastWriteTimeUtc.Ticks}";
        }
        Native.Statx st = Native.LStat(path);
        return $"{st.Ino}:{st.Size}:{st.MtimeSeconds}.{st.MtimeNanoseconds}:{st.CtimeSeconds}.{st.CtimeNanoseconds}";
    }

    /// <summary>As <see cref="ReadAsync"/>, synchronously.</summary>
    public static IEnumerable<FileSystemEntry> Read(string directory)
    {
        string root = Path.GetFullPath(directory);
        if (!Directory.Exists(root))
        {
            throw Errors.DirectoryTreeUnreadable(root, "it is not a directory");
        }
        var walker = new Walker(root);
        yield return walker.Describe(root, "");
        var stack = new Stack<Frame>();
        stack.Push(new Frame("", walker.List(root)));
        while (stack.Count > 0)
        {
            Frame top = stack.Peek();
            if (top.Index == top.Names.Length)
            {
                stack.Pop();
                continue;
            }
            string name = top.Names[top.Index++];
            string relative = top.Path.Length == 0 ? name : top.Path + "/" + name;
            string full = Path.Combine(root, relative);
            FileSystemEntry entry = walker.Describe(full, relative);
            yield return entry;
            if (entry.Type == FileSystemEntryType.Directory)
            {
                stack.Push(new Frame(relative, walker.List(full)));
            }
        }
    }

    private sealed class Frame(string path, string[] names)
    {
        public string Path { get; } = path;
        public string[] Names { get; } = names;
        public int Index { get; set; }
    }

    private sealed class Walker(string root)
    {
        private readonly Dictionary<(uint, uint, ulong), string> _linked = [];

        private static readonly EnumerationOptions ListOptions = new()
        {
            AttributesToSkip = 0,
            IgnoreInaccessible = false,
            RecurseSubdirectories = false,
            ReturnSpecialDirectories = false,
        };

        public string[] List(string directory)
        {
            try
            {
                string[] names = Directory.EnumerateFileSystemEntries(directory, "*", ListOptions).Select(p => Path.GetFileName(p)).ToArray();
                byte[][] keys = names.Select(Encoding.UTF8.GetBytes).ToArray();
                Array.Sort(keys, names, Utf8Order.Instance);
                return names;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw Errors.DirectoryTreeUnreadable(root, $"listing '{directory}': {e.Message}", cause: e);
            }
        }

        public FileSystemEntry Describe(string full, string relative)
        {
            try
            {
                return OperatingSystem.IsLinux() ? DescribeLinux(full, relative) : DescribePortable(full, relative);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw Errors.DirectoryTreeUnreadable(root, $"'{full}': {e.Message}", cause: e);
            }
        }

        private FileSystemEntry DescribeLinux(string full, string relative)
        {
            Native.Statx st = Native.LStat(full);
            int format = st.Mode & 0xF000;
            FileSystemEntryType type = format switch
            {
                0x4000 => FileSystemEntryType.Directory,
                0x8000 => FileSystemEntryType.RegularFile,
                0xA000 => FileSystemEntryType.Symlink,
                0x2000 => FileSystemEntryType.CharacterDevice,
                0x6000 => FileSystemEntryType.BlockDevice,
                0x1000 => FileSystemEntryType.Fifo,
                0xC000 => FileSystemEntryType.Socket,
                _ => throw new IOException($"unknown file type {format:x}"),
            };
            var entry = new FileSystemEntry
            {
                Path = relative,
                Type = type,
                Mode = st.Mode & 0xFFF,
                Uid = (int)st.Uid,
                Gid = (int)st.Gid,
                ModificationTime = st.MtimeSeconds,
                ExtendedAttributes = Native.ReadXattrs(full),
            };
            if (type != FileSystemEntryType.Directory && st.Nlink > 1)
            {
                var key = (st.DevMajor, st.DevMinor, st.Ino);
                if (_linked.TryGetValue(key, out string? first))
                {
                    return entry with { Type = FileSystemEntryType.HardLink, LinkTarget = first };
                }
                _linked.Add(key, relative);
            }
            return type switch
            {
                FileSystemEntryType.RegularFile => entry with { Size = (long)st.Size, OpenContent = () => OpenRead(full) },
                FileSystemEntryType.Symlink => entry with { LinkTarget = new FileInfo(full).LinkTarget },
                FileSystemEntryType.CharacterDevice or FileSystemEntryType.BlockDevice =>
                    entry with { DeviceMajor = (int)st.RdevMajor, DeviceMinor = (int)st.RdevMinor },
                _ => entry,
            };
        }

        private static FileSystemEntry DescribePortable(string full, string relative)
        {
            FileSystemInfo info = Directory.Exists(full) && new DirectoryInfo(full).LinkTarget is null ? new DirectoryInfo(full) : new FileInfo(full);
            var entry = new FileSystemEntry
            {
                Path = relative,
                Type = FileSystemEntryType.RegularFile,
                Mode = OperatingSystem.IsWindows() ? (info is DirectoryInfo ? 0x1ED : 0x1A4) : (int)info.UnixFileMode,
                ModificationTime = new DateTimeOffset(info.LastWriteTimeUtc).ToUnixTimeSeconds(),
            };
            if (info.LinkTarget is { } target)
            {
                return entry with { Type = FileSystemEntryType.Symlink, LinkTarget = target.Replace('\\', '/') };
            }
            if (info is DirectoryInfo)
            {
                return entry with { Type = FileSystemEntryType.Directory };
            }
            return entry with { Size = ((FileInfo)info).Length, OpenContent = () => OpenRead(full) };
        }

        private static FileStream OpenRead(string path) =>
            new(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
    }

    private sealed class Utf8Order : IComparer<byte[]>
    {
        public static readonly Utf8Order Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }

    /// <summary>The few libc calls .NET has no API for: statx (owner, nlink, inode, device numbers) and xattrs.</summary>
    private static unsafe partial class Native
    {
        private const string Libc = "libc.so.6";
        private const int AtFdcwd = -100;
        private const int AtSymlinkNoFollow = 0x100;
        private const uint StatxBasicStats = 0x7FF;
        private const int ENODATA = 61, ENOTSUP = 95, ERANGE = 34;

        [StructLayout(LayoutKind.Explicit, Size = 256)]
        public struct Statx
        {
            [FieldOffset(16)] public uint Nlink;
            [FieldOffset(20)] public uint Uid;
            [FieldOffset(24)] public uint Gid;
            [FieldOffset(28)] public ushort Mode;
            [FieldOffset(32)] public ulong Ino;
            [FieldOffset(40)] public ulong Size;
            [FieldOffset(48)] public ulong Blocks;
            [FieldOffset(96)] public long CtimeSeconds;
            [FieldOffset(104)] public uint CtimeNanoseconds;
            [FieldOffset(112)] public long MtimeSeconds;
            [FieldOffset(120)] public uint MtimeNanoseconds;
            [FieldOffset(128)] public uint RdevMajor;
            [FieldOffset(132)] public uint RdevMinor;
            [FieldOffset(136)] public uint DevMajor;
            [FieldOffset(140)] public uint DevMinor;
        }

        [LibraryImport(Libc, EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial int StatxCall(int dirfd, string path, int flags, uint mask, Statx* buffer);

        [LibraryImport(Libc, EntryPoint = "llistxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial nint ListXattr(string path, byte* list, nuint size);

        [LibraryImport(Libc, EntryPoint = "lgetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial nint GetXattr(string path, string name, byte* value, nuint size);

        public static Statx LStat(string path)
        {
            Statx st;
            if (StatxCall(AtFdcwd, path, AtSymlinkNoFollow, StatxBasicStats, &st) != 0)
            {
                throw Failure("statx", Marshal.GetLastPInvokeError());
            }
            return st;
        }

        public static IReadOnlyDictionary<string, byte[]> ReadXattrs(string path)
        {
            byte[] names = [];
            while (true)
            {
                nint size = ListXattr(path, null, 0);
                if (size < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    return errno is ENOTSUP or ENODATA ? Empty : throw Failure("llistxattr", errno);
                }
                if (size == 0)
                {
                    return Empty;
                }
                names = new byte[size];
                fixed (byte* p = names)
                {
                    nint n = ListXattr(path, p, (nuint)names.Length);
                    if (n >= 0)
                    {
                        names = names[..(int)n];
                        break;
                    }
                    if (Marshal.GetLastPInvokeError() != ERANGE)
                    {
                        throw Failure("llistxattr", Marshal.GetLastPInvokeError());
                    }
                }
            }
            var result = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
            foreach (string name in Encoding.UTF8.GetString(names).Split('\0', StringSplitOptions.RemoveEmptyEntries))
            {
                byte[]? value = GetValue(path, name);
                if (value is not null)
                {
                    result[name] = value;
                }
            }
            return new Dictionary<string, byte[]>(result);
        }

        private static byte[]? GetValue(string path, string name)
        {
            while (true)
            {
                nint size = GetXattr(path, name, null, 0);
                if (size < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    return errno == ENODATA ? null : throw Failure("lgetxattr " + name, errno);
                }
                byte[] value = new byte[size];
                fixed (byte* p = value)
                {
                    nint n = GetXattr(path, name, p, (nuint)value.Length);
                    if (n >= 0)
                    {
                        return value[..(int)n];
                    }
                    if (Marshal.GetLastPInvokeError() != ERANGE)
                    {
                        throw Failure("lgetxattr " + name, Marshal.GetLastPInvokeError());
                    }
                }
            }
        }

        private static readonly IReadOnlyDictionary<string, byte[]> Empty = new Dictionary<string, byte[]>();

        private static IOException Failure(string call, int errno) =>
            new($"{call} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
    }
}
