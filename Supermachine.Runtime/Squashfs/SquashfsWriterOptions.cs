namespace Supermachine.Squashfs;

/// <summary>How <see cref="SquashfsWriter"/> lays out an image. The defaults match <c>mksquashfs</c>'s.</summary>
internal sealed class SquashfsWriterOptions
{
    public const int DefaultBlockSize = 128 * 1024;

    /// <summary>Compressor for data, fragments and metadata (default gzip).</summary>
    public SquashfsCompression Compression { get; init; } = SquashfsCompression.Gzip;

    /// <summary>Compressor level; null takes the compressor's mksquashfs default (gzip 9, zstd 15).</summary>
    public int? CompressionLevel { get; init; }

    /// <summary>Data block size: a power of two from 4 KiB to 1 MiB (default 128 KiB).</summary>
    public int BlockSize { get; init; } = DefaultBlockSize;

    /// <summary>The superblock time in seconds since the epoch; null takes the newest mtime of the input (0 for none).</summary>
    public long? ModificationTime { get; init; }

    /// <summary>Store identical file contents once (default true), as mksquashfs does.</summary>
    public bool Deduplicate { get; init; } = true;

    /// <summary>Also pack the tail of files larger than a block into fragments (mksquashfs -always-use-fragments).</summary>
    public bool AlwaysUseFragments { get; init; }

    /// <summary>Threads compressing blocks; default all cores.</summary>
    public int MaxDegreeOfParallelism { get; init; } = Environment.ProcessorCount;

    /// <summary>Receives progress now and then (entries and content bytes seen, then the layout phase).</summary>
    public IProgress<SquashfsProgress>? Progress { get; init; }
}

/// <summary>Where a write is: entries and content bytes received, and the current phase.</summary>
internal readonly record struct SquashfsProgress(string Phase, long Entries, long ContentBytes);
