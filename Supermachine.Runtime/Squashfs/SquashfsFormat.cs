using System.Buffers.Binary;

namespace Supermachine.Squashfs;

/// <summary>
/// The on-disk constants of squashfs 4.0 as the Linux kernel reads them (fs/squashfs). Everything
/// is little-endian; metadata lives in 8 KiB blocks with a 2-byte length header.
/// </summary>
internal static class SquashfsFormat
{
    public const uint Magic = 0x73717368;
    public const int SuperblockSize = 96;
    public const int MetadataBlockSize = 8192;
    public const ushort MetadataUncompressedBit = 0x8000;
    public const uint DataUncompressedBit = 1u << 24;
    public const uint NoFragment = 0xFFFFFFFF;
    public const uint NoXattr = 0xFFFFFFFF;
    public const ulong NoTable = 0xFFFFFFFFFFFFFFFF;
    public const int MaxNameLength = 255;
    public const int DirectoryHeaderMaxEntries = 256;
    public const int MaxIds = 65536;
    public const int ImagePadding = 4096;

    // Inode types: basic forms 1-7, extended forms 8-14.
    public const ushort Directory = 1, File = 2, Symlink = 3, BlockDevice = 4, CharDevice = 5, Fifo = 6, Socket = 7;
    public const ushort ExtendedOffset = 7;

    // Compressor ids.
    public const ushort GzipId = 1, XzId = 4, ZstdId = 6;

    // Superblock flags.
    public const ushort UncompressedInodes = 0x0001, UncompressedData = 0x0002, UncompressedFragments = 0x0008,
        NoXattrs = 0x0200, Duplicates = 0x0040, Exportable = 0x0080, UncompressedXattrs = 0x0100, UncompressedIds = 0x0800;

    // Xattr name prefixes, by type.
    public static readonly string[] XattrPrefixes = ["user.", "trusted.", "security."];
    public const ushort XattrOutOfLine = 0x0100;

    /// <summary>The kernel's new_encode_dev: 12 bits of major, 20 of minor, interleaved.</summary>
    public static uint EncodeDevice(int major, int minor) =>
        (uint)((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12));

    public static (int Major, int Minor) DecodeDevice(uint rdev) =>
        ((int)((rdev & 0xfff00) >> 8), (int)((rdev & 0xff) | ((rdev >> 12) & 0xfff00)));

    public static ulong InodeRef(long blockStart, int offset) => ((ulong)blockStart << 16) | (uint)offset;
}

/// <summary>The 96-byte superblock.</summary>
internal struct Superblock
{
    public uint InodeCount;
    public uint ModificationTime;
    public uint BlockSize;
    public uint FragmentCount;
    public ushort Compression;
    public ushort BlockLog;
    public ushort Flags;
    public ushort IdCount;
    public ushort VersionMajor;
    public ushort VersionMinor;
    public ulong RootInode;
    public ulong BytesUsed;
    public ulong IdTableStart;
    public ulong XattrIdTableStart;
    public ulong InodeTableStart;
    public ulong DirectoryTableStart;
    public ulong FragmentTableStart;
    public ulong ExportTableStart;

    public readonly void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b, SquashfsFormat.Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], InodeCount);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], ModificationTime);
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], BlockSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b[16..], FragmentCount);
        BinaryPrimitives.WriteUInt16LittleEndian(b[20..], Compression);
        BinaryPrimitives.WriteUInt16LittleEndian(b[22..], BlockLog);
        BinaryPrimitives.WriteUInt16LittleEndian(b[24..], Flags);
        BinaryPrimitives.WriteUInt16LittleEndian(b[26..], IdCount);
        BinaryPrimitives.WriteUInt16LittleEndian(b[28..], VersionMajor);
        BinaryPrimitives.WriteUInt16LittleEndian(b[30..], VersionMinor);
        BinaryPrimitives.WriteUInt64LittleEndian(b[32..], RootInode);
        BinaryPrimitives.WriteUInt64LittleEndian(b[40..], BytesUsed);
        BinaryPrimitives.WriteUInt64LittleEndian(b[48..], IdTableStart);
        BinaryPrimitives.WriteUInt64LittleEndian(b[56..], XattrIdTableStart);
        BinaryPrimitives.WriteUInt64LittleEndian(b[64..], InodeTableStart);
        BinaryPrimitives.WriteUInt64LittleEndian(b[72..], DirectoryTableStart);
        BinaryPrimitives.WriteUInt64LittleEndian(b[80..], FragmentTableStart);
        BinaryPrimitives.WriteUInt64LittleEndian(b[88..], ExportTableStart);
    }

    public static bool TryRead(ReadOnlySpan<byte> b, out Superblock s)
    {
        s = default;
        if (b.Length < SquashfsFormat.SuperblockSize || BinaryPrimitives.ReadUInt32LittleEndian(b) != SquashfsFormat.Magic)
        {
            return false;
        }
        s.InodeCount = BinaryPrimitives.ReadUInt32LittleEndian(b[4..]);
        s.ModificationTime = BinaryPrimitives.ReadUInt32LittleEndian(b[8..]);
        s.BlockSize = BinaryPrimitives.ReadUInt32LittleEndian(b[12..]);
        s.FragmentCount = BinaryPrimitives.ReadUInt32LittleEndian(b[16..]);
        s.Compression = BinaryPrimitives.ReadUInt16LittleEndian(b[20..]);
        s.BlockLog = BinaryPrimitives.ReadUInt16LittleEndian(b[22..]);
        s.Flags = BinaryPrimitives.ReadUInt16LittleEndian(b[24..]);
        s.IdCount = BinaryPrimitives.ReadUInt16LittleEndian(b[26..]);
        s.VersionMajor = BinaryPrimitives.ReadUInt16LittleEndian(b[28..]);
        s.VersionMinor = BinaryPrimitives.ReadUInt16LittleEndian(b[30..]);
        s.RootInode = BinaryPrimitives.ReadUInt64LittleEndian(b[32..]);
        s.BytesUsed = BinaryPrimitives.ReadUInt64LittleEndian(b[40..]);
        s.IdTableStart = BinaryPrimitives.ReadUInt64LittleEndian(b[48..]);
        s.XattrIdTableStart = BinaryPrimitives.ReadUInt64LittleEndian(b[56..]);
        s.InodeTableStart = BinaryPrimitives.ReadUInt64LittleEndian(b[64..]);
        s.DirectoryTableStart = BinaryPrimitives.ReadUInt64LittleEndian(b[72..]);
        s.FragmentTableStart = BinaryPrimitives.ReadUInt64LittleEndian(b[80..]);
        s.ExportTableStart = BinaryPrimitives.ReadUInt64LittleEndian(b[88..]);
        return true;
    }
}
