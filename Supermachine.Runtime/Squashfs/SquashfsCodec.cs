using System.IO.Compression;
using Supermachine.Compression;

namespace Supermachine.Squashfs;

/// <summary>The compressors a squashfs image can be written with.</summary>
internal enum SquashfsCompression
{
    /// <summary>zlib streams (squashfs "gzip"), level 9 by default as mksquashfs does; every kernel reads it.</summary>
    Gzip,

    /// <summary>zstd through the system libzstd (level 15 by default as mksquashfs does); kernels from 4.14.</summary>
    Zstd,

    /// <summary>xz (LZMA2) through the system liblzma, preset 6 with a block-sized dictionary as mksquashfs does; smallest, slowest.</summary>
    Xz,

    /// <summary>Nothing compressed (the image still says gzip, with every "uncompressed" flag set).</summary>
    None,
}

/// <summary>
/// One compressor as squashfs uses it: each block compressed on its own, and a block that does not
/// shrink is stored as it is. Instances are stateless and safe to share between threads.
/// </summary>
internal abstract class SquashfsCodec
{
    public abstract ushort Id { get; }

    /// <summary>
    /// Compresses <paramref name="source"/> into <paramref name="destination"/> (at least
    /// <see cref="Bound"/> long) and returns the length, or -1 when the result would not be smaller.
    /// </summary>
    public abstract int Compress(ReadOnlySpan<byte> source, byte[] destination);

    /// <summary>Decompresses a whole block; returns its length. Throws <see cref="InvalidDataException"/> on bad data.</summary>
    public abstract int Decompress(ReadOnlySpan<byte> source, Span<byte> destination);

    public static int Bound(int length) => length + (length >> 4) + 128;

    public static SquashfsCodec Create(SquashfsCompression compression, int? level, int blockSize) => compression switch
    {
        SquashfsCompression.Gzip => new GzipCodec(level ?? 9),
        SquashfsCompression.Zstd => new ZstdCodec(level ?? 15),
        SquashfsCompression.Xz => new XzCodec(level ?? 6, blockSize),
        SquashfsCompression.None => new NoneCodec(),
        _ => throw new ArgumentOutOfRangeException(nameof(compression)),
    };

    /// <summary>The codec that reads an image's compressor id, or null when this build cannot read it.</summary>
    public static SquashfsCodec? ForId(ushort id) => id switch
    {
        SquashfsFormat.GzipId => new GzipCodec(9),
        SquashfsFormat.ZstdId => new ZstdCodec(15),
        SquashfsFormat.XzId when LibLzma.IsAvailable => new XzCodec(6, SquashfsWriterOptions.DefaultBlockSize),
        _ => null,
    };

    private sealed class GzipCodec(int level) : SquashfsCodec
    {
        public override ushort Id => SquashfsFormat.GzipId;

        public override int Compress(ReadOnlySpan<byte> source, byte[] destination)
        {
            if (LibZ.IsAvailable)
            {
                int n = LibZ.Compress(source, destination, level);
                return n >= 0 && n < source.Length ? n : -1;
            }
            var output = new MemoryStream(destination, 0, destination.Length, writable: true);
            using (var zlib = new ZLibStream(output, new ZLibCompressionOptions { CompressionLevel = level }, leaveOpen: true))
            {
                zlib.Write(source);
            }
            int length = (int)output.Position;
            return length < source.Length ? length : -1;
        }

        public override int Decompress(ReadOnlySpan<byte> source, Span<byte> destination)
        {
            unsafe
            {
                fixed (byte* p = source)
                {
                    using var input = new UnmanagedMemoryStream(p, source.Length);
                    using var zlib = new ZLibStream(input, CompressionMode.Decompress);
                    int total = 0;
                    while (true)
                    {
                        int n = zlib.Read(destination[total..]);
                        if (n == 0)
                        {
                            break;
                        }
                        total += n;
                        if (total == destination.Length)
                        {
                            if (zlib.ReadByte() >= 0)
                            {
                                throw new InvalidDataException("a compressed block is larger than the block size");
                            }
                            break;
                        }
                    }
                    return total;
                }
            }
        }
    }

    private sealed unsafe class ZstdCodec : SquashfsCodec
    {
        private readonly int _level;

        public ZstdCodec(int level)
        {
            LibZstd.EnsureAvailable();
            _level = level;
        }

        public override ushort Id => SquashfsFormat.ZstdId;

        public override int Compress(ReadOnlySpan<byte> source, byte[] destination)
        {
            fixed (byte* s = source)
            fixed (byte* d = destination)
            {
                nuint n = LibZstd.Compress(d, (nuint)destination.Length, s, (nuint)source.Length, _level);
                if (LibZstd.IsError(n) != 0)
                {
                    throw new InvalidOperationException("zstd compression failed: " + LibZstd.Check(n));
                }
                return (int)n < source.Length ? (int)n : -1;
            }
        }

        public override int Decompress(ReadOnlySpan<byte> source, Span<byte> destination)
        {
            fixed (byte* s = source)
            fixed (byte* d = destination)
            {
                return (int)LibZstd.Check(LibZstd.Decompress(d, (nuint)destination.Length, s, (nuint)source.Length));
            }
        }
    }

    private sealed class XzCodec : SquashfsCodec
    {
        private readonly uint _preset;
        private readonly uint _dictionary;

        public XzCodec(int level, int blockSize)
        {
            if (!LibLzma.IsAvailable)
            {
                throw Diagnostics.Errors.LzmaLibraryMissing();
            }
            _preset = (uint)level;
            _dictionary = (uint)blockSize;
        }

        public override ushort Id => SquashfsFormat.XzId;

        public override int Compress(ReadOnlySpan<byte> source, byte[] destination)
        {
            int n = LibLzma.Compress(source, destination, _preset, _dictionary);
            return n >= 0 && n < source.Length ? n : -1;
        }

        public override int Decompress(ReadOnlySpan<byte> source, Span<byte> destination) => LibLzma.Decompress(source, destination);
    }

    private sealed class NoneCodec : SquashfsCodec
    {
        public override ushort Id => SquashfsFormat.GzipId;

        public override int Compress(ReadOnlySpan<byte> source, byte[] destination) => -1;

        public override int Decompress(ReadOnlySpan<byte> source, Span<byte> destination) =>
            throw new InvalidDataException("a block is marked compressed in an image written without compression");
    }
}
