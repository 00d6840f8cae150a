using System.IO.Compression;

namespace Supermachine.Dockerfile.Context;

/// <summary>How a local ADD source is to be treated.</summary>
internal enum AddSourceKind
{
    /// <summary>Copied as is.</summary>
    PlainFile,

    /// <summary>An uncompressed tar archive: extracted at the destination.</summary>
    Tar,

    /// <summary>A gzip-compressed tar archive: extracted.</summary>
    TarGzip,

    /// <summary>bzip2-compressed (tar assumed, as Docker does for a recognised compression); extracted.</summary>
    TarBzip2,

    /// <summary>xz-compressed (tar assumed); extracted.</summary>
    TarXz,

    /// <summary>zstd-compressed (tar assumed); extracted.</summary>
    TarZstd,
}

/// <summary>
/// Decides whether ADD auto-extracts a local file, the way Docker does: by content, not by name.
/// A file is an archive when it is a tar stream, plain or compressed (gzip, bzip2, xz, zstd);
/// for plain and gzip the tar header is checked too, so a lone .gz file is copied, not extracted.
/// </summary>
internal static class ArchiveDetector
{
    public static AddSourceKind Detect(string path)
    {
        using FileStream stream = File.OpenRead(path);
        return Detect(stream);
    }

    public static AddSourceKind Detect(Stream stream)
    {
        Span<byte> magic = stackalloc byte[6];
        int read = stream.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false);
        magic = magic[..read];
        stream.Seek(0, SeekOrigin.Begin);
        if (magic.StartsWith((ReadOnlySpan<byte>)[0x1F, 0x8B]))
        {
            using var gzip = new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true);
            return IsTarHeader(gzip) ? AddSourceKind.TarGzip : AddSourceKind.PlainFile;
        }
        if (magic.StartsWith("BZh"u8))
        {
            return AddSourceKind.TarBzip2;
        }
        if (magic.StartsWith((ReadOnlySpan<byte>)[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]))
        {
            return AddSourceKind.TarXz;
        }
        if (magic.StartsWith((ReadOnlySpan<byte>)[0x28, 0xB5, 0x2F, 0xFD]))
        {
            return AddSourceKind.TarZstd;
        }
        return IsTarHeader(stream) ? AddSourceKind.Tar : AddSourceKind.PlainFile;
    }

    // A tar stream starts with a 512-byte header whose checksum field (offset 148, octal) equals
    // the sum of the header bytes with that field read as spaces.
    private static bool IsTarHeader(Stream stream)
    {
        var header = new byte[512];
        int read;
        try
        {
            read = stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        }
        catch (InvalidDataException)
        {
            return false;
        }
        if (read < header.Length || header[0] == 0)
        {
            return false;
        }
        long sum = 0;
        for (int i = 0; i < header.Length; i++)
        {
            sum += i is >= 148 and < 156 ? (byte)' ' : header[i];
        }
        string field = System.Text.Encoding.ASCII.GetString(header, 148, 8).Trim(' ', '\0');
        try
        {
            return field.Length > 0 && Convert.ToInt64(field, 8) == sum;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
