using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Supermachine.Diagnostics;
using Supermachine.FileSystem;

namespace Supermachine.Squashfs;

/// <summary>
/// Reads a squashfs 4.0 image (gzip, zstd or uncompressed) back into <see cref="FileSystemEntry"/>
/// values: enough to list and extract it, and to use it as the lower layer of a commit.
/// </summary>
/// <remarks>
/// Entries come depth first with names in stored (sorted) order, the root ("") first. A second name
/// of an inode with several links comes as a <see cref="FileSystemEntryType.HardLink"/> to the first.
/// <see cref="FileSystemEntry.OpenContent"/> stays valid until the reader is disposed. Anything
/// malformed is reported as SM2108.
/// </remarks>
public sealed partial class SquashfsReader : IDisposable
{
    private readonly string _path;
    private readonly SafeFileHandle _file;
    private readonly long _length;
    private readonly Superblock _sb;
    private readonly SquashfsCodec _codec;
    private readonly Dictionary<long, (byte[] Data, int Length, long Next)> _metadata = [];
    private readonly object _metadataLock = new();
    private uint[] _ids = [];
    private (long Start, uint Word)[] _fragments = [];
    private (ulong Ref, uint Count)[] _xattrIds = [];
    private long _xattrTableStart;

    private SquashfsReader(string path, SafeFileHandle file)
    {
        _path = path;
        _file = file;
        _length = RandomAccess.GetLength(file);
        byte[] header = new byte[SquashfsFormat.SuperblockSize];
        if (_length < header.Length || RandomAccess.Read(file, header, 0) != header.Length || !Superblock.TryRead(header, out _sb))
        {
            throw Corrupt("it does not start with a squashfs superblock");
        }
        if (_sb.VersionMajor != 4 || _sb.VersionMinor != 0)
        {
            throw Corrupt($"it is squashfs version {_sb.VersionMajor}.{_sb.VersionMinor}, not 4.0");
        }
        if (_sb.BlockSize is < 4096 or > 1024 * 1024 || 1u << _sb.BlockLog != _sb.BlockSize)
        {
            throw Corrupt($"its block size {_sb.BlockSize} is invalid");
        }
        if (_sb.BytesUsed > (ulong)_length)
        {
            throw Corrupt($"it claims {_sb.BytesUsed} bytes but the file has {_length} (truncated?)");
        }
        _codec = SquashfsCodec.ForId(_sb.Compression) ?? throw Corrupt($"it uses compressor id {_sb.Compression}, which this reader does not support (gzip, zstd and, with liblzma, xz are)");
    }

    /// <summary>Opens the image at <paramref name="path"/> and reads its tables.</summary>
    public static SquashfsReader Open(string path)
    {
        string full = Path.GetFullPath(path);
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(full, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Diagnostic.Error(e, "SM2108", full, e.Message);
        }
        SquashfsReader? reader = null;
        try
        {
            reader = new SquashfsReader(full, handle);
            reader.Guard(reader.ReadTables);
            return reader;
        }
        catch
        {
            if (reader is null)
            {
                handle.Dispose();
            }
            else
            {
                reader.Dispose();
            }
            throw;
        }
    }

    /// <summary>The superblock time, seconds since the epoch.</summary>
    public long ModificationTime => _sb.ModificationTime;

    public int BlockSize => (int)_sb.BlockSize;

    public long InodeCount => _sb.InodeCount;

    public SquashfsCompression Compression => _sb.Compression == SquashfsFormat.ZstdId ? SquashfsCompression.Zstd
        : _sb.Compression == SquashfsFormat.XzId ? SquashfsCompression.Xz
        : (_sb.Flags & SquashfsFormat.UncompressedData) != 0 ? SquashfsCompression.None : SquashfsCompression.Gzip;

    public void Dispose() => _file.Dispose();

    /// <summary>Every entry of the image, root first.</summary>
    public async IAsyncEnumerable<FileSystemEntry> ReadEntriesAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await Task.CompletedTask.ConfigureAwait(false);
        foreach (FileSystemEntry entry in ReadEntries())
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return entry;
        }
    }

    /// <summary>As <see cref="ReadEntriesAsync"/>, synchronously.</summary>
    public IEnumerable<FileSystemEntry> ReadEntries()
    {
        Inode root = Guard(() => ReadInode(_sb.RootInode));
        if (root.Type != SquashfsFormat.Directory)
        {
            throw Corrupt("the root inode is not a directory");
        }
        yield return Guard(() => ToEntry(root, ""));
        var firstNames = new Dictionary<uint, string>();
        var visited = new HashSet<uint> { root.Number };
        var stack = new Stack<(string Path, List<(string Name, ulong Ref)> Children, int Index)>();
        stack.Push(("", Guard(() => ReadListing(root)), 0));
        while (stack.Count > 0)
        {
            var (path, children, index) = stack.Pop();
            if (index == children.Count)
            {
                continue;
            }
            stack.Push((path, children, index + 1));
            (string name, ulong reference) = children[index];
            string childPath = path.Length == 0 ? name : path + "/" + name;
            Inode inode = Guard(() => ReadInode(reference));
            if (inode.Type == SquashfsFormat.Directory)
            {
                if (!visited.Add(inode.Number) || stack.Count > 4096)
                {
                    throw Corrupt($"the directory '{childPath}' loops back on itself");
                }
                yield return Guard(() => ToEntry(inode, childPath));
                stack.Push((childPath, Guard(() => ReadListing(inode)), 0));
                continue;
            }
            if (inode.Nlink > 1)
            {
                if (firstNames.TryGetValue(inode.Number, out string? first))
                {
                    yield return new FileSystemEntry
                    {
                        Path = childPath,
                        Type = FileSystemEntryType.HardLink,
                        LinkTarget = first,
                        Mode = inode.Mode & 0xFFF,
                        Uid = (int)inode.Uid,
                        Gid = (int)inode.Gid,
                        ModificationTime = inode.Mtime,
                    };
                    continue;
                }
                firstNames.Add(inode.Number, childPath);
            }
            yield return Guard(() => ToEntry(inode, childPath));
        }
    }

    // ---------------------------------------------------------------- structures

    private sealed class Inode
    {
        public ushort Type; // basic type 1..7
        public int Mode;
        public uint Uid, Gid, Mtime, Number, Nlink = 1;
        public uint Xattr = SquashfsFormat.NoXattr;
        public long Size, Start;
        public uint Fragment = SquashfsFormat.NoFragment, FragmentOffset;
        public uint[] Blocks = [];
        public string? Target;
        public uint Rdev;
        public long DirBlock;
        public int DirOffset;
        public uint DirSize;
    }

    private FileSystemEntry ToEntry(Inode inode, string path)
    {
        var entry = new FileSystemEntry
        {
            Path = path,
            Type = inode.Type switch
            {
                SquashfsFormat.Directory => FileSystemEntryType.Directory,
                SquashfsFormat.File => FileSystemEntryType.RegularFile,
                SquashfsFormat.Symlink => FileSystemEntryType.Symlink,
                SquashfsFormat.BlockDevice => FileSystemEntryType.BlockDevice,
                SquashfsFormat.CharDevice => FileSystemEntryType.CharacterDevice,
                SquashfsFormat.Fifo => FileSystemEntryType.Fifo,
                _ => FileSystemEntryType.Socket,
            },
            Mode = inode.Mode & 0xFFF,
            Uid = (int)inode.Uid,
            Gid = (int)inode.Gid,
            ModificationTime = inode.Mtime,
            LinkTarget = inode.Target,
            ExtendedAttributes = ReadXattrs(inode.Xattr),
        };
        if (inode.Type is SquashfsFormat.BlockDevice or SquashfsFormat.CharDevice)
        {
            (int major, int minor) = SquashfsFormat.DecodeDevice(inode.Rdev);
            entry = entry with { DeviceMajor = major, DeviceMinor = minor };
        }
        if (inode.Type == SquashfsFormat.File)
        {
            entry = entry with { Size = inode.Size, OpenContent = () => new ContentStream(this, inode) };
        }
        return entry;
    }

    private void ReadTables()
    {
        if (_sb.IdCount == 0)
        {
            throw Corrupt("it has no id table");
        }
        byte[] ids = ReadTable(_sb.IdTableStart, _sb.IdCount * 4);
        _ids = new uint[_sb.IdCount];
        for (int i = 0; i < _ids.Length; i++)
        {
            _ids[i] = BinaryPrimitives.ReadUInt32LittleEndian(ids.AsSpan(i * 4));
        }
        if (_sb.FragmentCount > 0)
        {
            byte[] fragments = ReadTable(_sb.FragmentTableStart, checked((int)_sb.FragmentCount * 16));
            _fragments = new (long, uint)[_sb.FragmentCount];
            for (int i = 0; i < _fragments.Length; i++)
            {
                _fragments[i] = ((long)BinaryPrimitives.ReadUInt64LittleEndian(fragments.AsSpan(i * 16)), BinaryPrimitives.ReadUInt32LittleEndian(fragments.AsSpan(i * 16 + 8)));
            }
        }
        if (_sb.XattrIdTableStart != SquashfsFormat.NoTable)
        {
            byte[] header = ReadAt((long)_sb.XattrIdTableStart, 16);
            _xattrTableStart = (long)BinaryPrimitives.ReadUInt64LittleEndian(header);
            uint count = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8));
            byte[] table = ReadTable((long)_sb.XattrIdTableStart + 16, checked((int)count * 16));
            _xattrIds = new (ulong, uint)[count];
            for (int i = 0; i < count; i++)
            {
                _xattrIds[i] = (BinaryPrimitives.ReadUInt64LittleEndian(table.AsSpan(i * 16)), BinaryPrimitives.ReadUInt32LittleEndian(table.AsSpan(i * 16 + 8)));
            }
        }
    }

    /// <summary>A lookup table: an index of metadata block positions at <paramref name="indexStart"/>, the entries in those blocks.</summary>
    private byte[] ReadTable(ulong indexStart, int bytes) => ReadTable((long)indexStart, bytes);

    private byte[] ReadTable(long indexStart, int bytes)
    {
        int blocks = (bytes + SquashfsFormat.MetadataBlockSize - 1) / SquashfsFormat.MetadataBlockSize;
        byte[] index = ReadAt(indexStart, blocks * 8);
        byte[] result = new byte[bytes];
        for (int i = 0; i < blocks; i++)
        {
            long block = (long)BinaryPrimitives.ReadUInt64LittleEndian(index.AsSpan(i * 8));
            var (data, length, _) = MetadataBlock(block);
            int n = Math.Min(length, bytes - i * SquashfsFormat.MetadataBlockSize);
            data.AsSpan(0, n).CopyTo(result.AsSpan(i * SquashfsFormat.MetadataBlockSize));
        }
        return result;
    }

    private Inode ReadInode(ulong reference)
    {
        var c = new Cursor(this, (long)_sb.InodeTableStart + (long)(reference >> 16), (int)(reference & 0xFFFF));
        ushort type = c.U16();
        var inode = new Inode
        {
            Mode = c.U16(),
            Uid = Id(c.U16()),
            Gid = Id(c.U16()),
            Mtime = c.U32(),
            Number = c.U32(),
        };
        bool extended = type > SquashfsFormat.ExtendedOffset;
        inode.Type = (ushort)(extended ? type - SquashfsFormat.ExtendedOffset : type);
        switch (type)
        {
            case SquashfsFormat.Directory:
                inode.DirBlock = c.U32();
                inode.Nlink = c.U32();
                inode.DirSize = c.U16();
                inode.DirOffset = c.U16();
                c.U32(); // parent
                break;
            case SquashfsFormat.Directory + SquashfsFormat.ExtendedOffset:
                inode.Nlink = c.U32();
                inode.DirSize = c.U32();
                inode.DirBlock = c.U32();
                c.U32(); // parent
                c.U16(); // index count: the reader walks the whole listing
                inode.DirOffset = c.U16();
                inode.Xattr = c.U32();
                break;
            case SquashfsFormat.File:
                inode.Start = c.U32();
                inode.Fragment = c.U32();
                inode.FragmentOffset = c.U32();
                inode.Size = c.U32();
                ReadBlockList(c, inode);
                break;
            case SquashfsFormat.File + SquashfsFormat.ExtendedOffset:
                inode.Start = (long)c.U64();
                inode.Size = (long)c.U64();
                c.U64(); // sparse
                inode.Nlink = c.U32();
                inode.Fragment = c.U32();
                inode.FragmentOffset = c.U32();
                inode.Xattr = c.U32();
                ReadBlockList(c, inode);
                break;
            case SquashfsFormat.Symlink or SquashfsFormat.Symlink + SquashfsFormat.ExtendedOffset:
            {
                inode.Nlink = c.U32();
                uint size = c.U32();
                if (size > 65536)
                {
                    throw new InvalidDataException($"symlink target of {size} bytes");
                }
                byte[] target = new byte[size];
                c.Read(target);
                inode.Target = Encoding.UTF8.GetString(target);
                if (extended)
                {
                    inode.Xattr = c.U32();
                }
                break;
            }
            case SquashfsFormat.BlockDevice or SquashfsFormat.CharDevice or SquashfsFormat.BlockDevice + SquashfsFormat.ExtendedOffset or SquashfsFormat.CharDevice + SquashfsFormat.ExtendedOffset:
                inode.Nlink = c.U32();
                inode.Rdev = c.U32();
                if (extended)
                {
                    inode.Xattr = c.U32();
                }
                break;
            case SquashfsFormat.Fifo or SquashfsFormat.Socket or SquashfsFormat.Fifo + SquashfsFormat.ExtendedOffset or SquashfsFormat.Socket + SquashfsFormat.ExtendedOffset:
                inode.Nlink = c.U32();
                if (extended)
                {
                    inode.Xattr = c.U32();
                }
                break;
            default:
                throw new InvalidDataException($"unknown inode type {type}");
        }
        return inode;
    }

    private void ReadBlockList(Cursor c, Inode inode)
    {
        if (inode.Size < 0)
        {
            throw new InvalidDataException("negative file size");
        }
        long count = inode.Fragment == SquashfsFormat.NoFragment
            ? (inode.Size + _sb.BlockSize - 1) / _sb.BlockSize
            : inode.Size / _sb.BlockSize;
        if (count * 4 > _length)
        {
            throw new InvalidDataException($"a file of {inode.Size} bytes cannot fit the image");
        }
        if (inode.Fragment != SquashfsFormat.NoFragment && inode.Fragment >= _fragments.Length)
        {
            throw new InvalidDataException($"fragment {inode.Fragment} does not exist");
        }
        inode.Blocks = new uint[count];
        for (long i = 0; i < count; i++)
        {
            inode.Blocks[i] = c.U32();
        }
    }

    private uint Id(ushort index) => index < _ids.Length ? _ids[index] : throw new InvalidDataException($"id index {index} is beyond the id table");

    private List<(string Name, ulong Ref)> ReadListing(Inode dir)
    {
        var result = new List<(string, ulong)>();
        if (dir.DirSize < 3)
        {
            throw new InvalidDataException("directory size below 3");
        }
        long left = dir.DirSize - 3;
        var c = new Cursor(this, (long)_sb.DirectoryTableStart + dir.DirBlock, dir.DirOffset);
        byte[] name = new byte[256];
        while (left > 0)
        {
            uint count = c.U32() + 1;
            uint start = c.U32();
            c.U32(); // base inode number
            left -= 12;
            if (count > 256)
            {
                throw new InvalidDataException($"a directory header claims {count} entries");
            }
            for (uint i = 0; i < count; i++)
            {
                ushort offset = c.U16();
                c.U16(); // inode number delta
                c.U16(); // type
                int size = c.U16() + 1;
                if (size > 256)
                {
                    throw new InvalidDataException($"a name of {size} bytes");
                }
                c.Read(name.AsSpan(0, size));
                string text = Encoding.UTF8.GetString(name, 0, size);
                if (text is "." or ".." || text.Contains('/') || text.Contains('\0'))
                {
                    throw new InvalidDataException($"the directory entry name '{text}' is not allowed");
                }
                result.Add((text, SquashfsFormat.InodeRef(start, offset)));
                left -= 8 + size;
            }
        }
        return result;
    }

    private IReadOnlyDictionary<string, byte[]> ReadXattrs(uint index)
    {
        if (index == SquashfsFormat.NoXattr)
        {
            return new Dictionary<string, byte[]>();
        }
        if (index >= _xattrIds.Length)
        {
            throw new InvalidDataException($"xattr id {index} is beyond the table");
        }
        (ulong reference, uint count) = _xattrIds[index];
        var c = new Cursor(this, _xattrTableStart + (long)(reference >> 16), (int)(reference & 0xFFFF));
        var result = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        for (uint i = 0; i < count; i++)
        {
            ushort type = c.U16();
            int prefix = type & 0xFF;
            if (prefix >= SquashfsFormat.XattrPrefixes.Length)
            {
                throw new InvalidDataException($"xattr type {type}");
            }
            byte[] name = new byte[c.U16()];
            c.Read(name);
            uint size = c.U32();
            byte[] value;
            if ((type & SquashfsFormat.XattrOutOfLine) != 0)
            {
                ulong valueRef = c.U64();
                var v = new Cursor(this, _xattrTableStart + (long)(valueRef >> 16), (int)(valueRef & 0xFFFF));
                value = new byte[CheckedSize(v.U32())];
                v.Read(value);
            }
            else
            {
                value = new byte[CheckedSize(size)];
                c.Read(value);
            }
            result[SquashfsFormat.XattrPrefixes[prefix] + Encoding.UTF8.GetString(name)] = value;
        }
        return result;
    }

    private int CheckedSize(uint size) => size <= 1 << 24 ? (int)size : throw new InvalidDataException($"an xattr value of {size} bytes");

    // ---------------------------------------------------------------- raw access

    private byte[] ReadAt(long position, int count)
    {
        if (position < 0 || count < 0 || position + count > _length)
        {
            throw new InvalidDataException($"a read at {position} of {count} bytes goes past the end of the image");
        }
        byte[] buffer = new byte[count];
        int done = 0;
        while (done < count)
        {
            int n = RandomAccess.Read(_file, buffer.AsSpan(done), position + done);
            if (n <= 0)
            {
                throw new InvalidDataException("unexpected end of the image");
            }
            done += n;
        }
        return buffer;
    }

    private (byte[] Data, int Length, long Next) MetadataBlock(long position)
    {
        lock (_metadataLock)
        {
            if (_metadata.TryGetValue(position, out var cached))
            {
                return cached;
            }
        }
        ushort header = BinaryPrimitives.ReadUInt16LittleEndian(ReadAt(position, 2));
        int size = header & 0x7FFF;
        if (size == 0 || size > SquashfsFormat.MetadataBlockSize)
        {
            throw new InvalidDataException($"a metadata block at {position} claims {size} bytes");
        }
        byte[] raw = ReadAt(position + 2, size);
        byte[] data;
        int length;
        if ((header & SquashfsFormat.MetadataUncompressedBit) != 0)
        {
            data = raw;
            length = size;
        }
        else
        {
            data = new byte[SquashfsFormat.MetadataBlockSize];
            length = _codec.Decompress(raw, data);
        }
        var block = (data, length, position + 2 + size);
        lock (_metadataLock)
        {
            _metadata[position] = block;
        }
        return block;
    }

    /// <summary>Decompresses data block (or fragment) <paramref name="word"/> at <paramref name="position"/>.</summary>
    private int DataBlock(long position, uint word, byte[] destination)
    {
        int size = (int)(word & ~SquashfsFormat.DataUncompressedBit);
        if (size > _sb.BlockSize)
        {
            throw new InvalidDataException($"a data block at {position} claims {size} bytes");
        }
        byte[] raw = ReadAt(position, size);
        if ((word & SquashfsFormat.DataUncompressedBit) != 0)
        {
            raw.CopyTo(destination, 0);
            return size;
        }
        return _codec.Decompress(raw, destination.AsSpan(0, (int)_sb.BlockSize));
    }

    // Small files share fragments and are usually read in order: keep the last one decompressed.
    private sealed record CachedFragment(uint Index, byte[] Data, int Length);

    private CachedFragment? _lastFragment;

    private (byte[] Data, int Length) Fragment(uint index)
    {
        CachedFragment? last = Volatile.Read(ref _lastFragment);
        if (last is not null && last.Index == index)
        {
            return (last.Data, last.Length);
        }
        (long start, uint word) = _fragments[index];
        byte[] data = new byte[_sb.BlockSize];
        int length = DataBlock(start, word, data);
        Volatile.Write(ref _lastFragment, new CachedFragment(index, data, length));
        return (data, length);
    }

    private T Guard<T>(Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or IndexOutOfRangeException or OverflowException or EndOfStreamException or IOException)
        {
            throw Diagnostic.Error(e, "SM2108", _path, e.Message);
        }
    }

    private void Guard(Action read) => Guard(() => { read(); return 0; });

    private SupermachineException Corrupt(string why) => Diagnostic.Error("SM2108", _path, why);
}
