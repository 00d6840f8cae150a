using System.Formats.Tar;
using System.IO.Compression;
using Supermachine.Dockerfile.Context;

namespace Supermachine.Tests.Dockerfile;

public class ArchiveDetectorTests
{
    private static byte[] Tar()
    {
        var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            var entry = new PaxTarEntry(TarEntryType.RegularFile, "hello.txt") { DataStream = new MemoryStream("hi"u8.ToArray()) };
            writer.WriteEntry(entry);
        }
        return buffer.ToArray();
    }

    private static byte[] Gzip(byte[] data)
    {
        var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }
        return buffer.ToArray();
    }

    [Fact]
    public void Archives_are_recognised_by_content()
    {
        Assert.Equal(AddSourceKind.Tar, ArchiveDetector.Detect(new MemoryStream(Tar())));
        Assert.Equal(AddSourceKind.TarGzip, ArchiveDetector.Detect(new MemoryStream(Gzip(Tar()))));
        Assert.Equal(AddSourceKind.TarBzip2, ArchiveDetector.Detect(new MemoryStream("BZh91AY&SY"u8.ToArray())));
        Assert.Equal(AddSourceKind.TarXz, ArchiveDetector.Detect(new MemoryStream([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, 1, 2])));
        Assert.Equal(AddSourceKind.TarZstd, ArchiveDetector.Detect(new MemoryStream([0x28, 0xB5, 0x2F, 0xFD, 0, 0])));
    }

    [Fact]
    public void Plain_files_and_gzip_of_non_tar_are_copied()
    {
        Assert.Equal(AddSourceKind.PlainFile, ArchiveDetector.Detect(new MemoryStream("just text"u8.ToArray())));
        Assert.Equal(AddSourceKind.PlainFile, ArchiveDetector.Detect(new MemoryStream(Gzip(new byte[2048]))));
        Assert.Equal(AddSourceKind.PlainFile, ArchiveDetector.Detect(new MemoryStream(Gzip("not a tar at all, but long enough? no"u8.ToArray()))));
        byte[] corrupted = Tar();
        corrupted[10] ^= 0xFF; // breaks the header checksum
        Assert.Equal(AddSourceKind.PlainFile, ArchiveDetector.Detect(new MemoryStream(corrupted)));
        Assert.Equal(AddSourceKind.PlainFile, ArchiveDetector.Detect(new MemoryStream([])));
    }
}
