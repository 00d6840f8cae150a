using Supermachine.Diagnostics;
using Supermachine.FileSystem;
using Supermachine.Squashfs;

namespace Supermachine.Tests.Squashfs;

/// <summary>The reader refuses damaged images with SM2108 instead of crashing or yielding garbage silently.</summary>
public sealed class SquashfsReaderTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "sm-squashfs-reader-" + Guid.NewGuid().ToString("N")[..8]);

    public SquashfsReaderTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<string> ImageAsync()
    {
        string image = Path.Combine(_dir, "good.sqfs");
        // Compressible, so damage shows up as a broken zlib stream rather than as different bytes.
        var random = new Random(3);
        byte[] data = Enumerable.Range(0, 400_000).Select(_ => (byte)('a' + random.Next(4))).ToArray();
        var entries = new List<FileSystemEntry> { new() { Path = "", Type = FileSystemEntryType.Directory, Mode = 0x1ED } };
        for (int i = 0; i < 500; i++)
        {
            byte[] content = i == 0 ? data : data.AsSpan(i, i * 3).ToArray();
            entries.Add(new() { Path = $"d/f{i}", Type = FileSystemEntryType.RegularFile, Mode = 0x1A4, Size = content.Length, OpenContent = () => new MemoryStream(content) });
        }
        await SquashfsWriter.WriteAsync(entries.ToAsyncEnumerable(), image);
        return image;
    }

    private static void ReadEverything(string image)
    {
        using SquashfsReader reader = SquashfsReader.Open(image);
        foreach (FileSystemEntry e in reader.ReadEntries())
        {
            if (e.OpenContent is not null)
            {
                using Stream s = e.OpenContent();
                s.CopyTo(Stream.Null);
            }
        }
    }

    [Fact]
    public async Task A_good_image_reads_completely()
    {
        ReadEverything(await ImageAsync());
    }

    [Fact]
    public void Not_an_image_is_SM2108()
    {
        string path = Path.Combine(_dir, "text");
        File.WriteAllText(path, new string('x', 5000));
        Assert.Equal("SM2108", Assert.Throws<SupermachineException>(() => SquashfsReader.Open(path)).Code);
        Assert.Equal("SM2108", Assert.Throws<SupermachineException>(() => SquashfsReader.Open(Path.Combine(_dir, "missing"))).Code);
    }

    [Fact]
    public async Task A_truncated_image_is_SM2108()
    {
        string image = await ImageAsync();
        using (var f = new FileStream(image, FileMode.Open))
        {
            f.SetLength(f.Length / 2);
        }
        var e = Assert.Throws<SupermachineException>(() => ReadEverything(image));
        Assert.Equal("SM2108", e.Code);
        Assert.Contains("truncated", e.Message);
    }

    [Theory]
    [InlineData("inode table")]
    [InlineData("directory table")]
    [InlineData("data")]
    [InlineData("id table")]
    public async Task Garbage_in_any_area_is_SM2108(string area)
    {
        string image = await ImageAsync();
        byte[] bytes = File.ReadAllBytes(image);
        long inodes = BitConverter.ToInt64(bytes, 64), directories = BitConverter.ToInt64(bytes, 72), ids = BitConverter.ToInt64(bytes, 48);
        (long from, int length) = area switch
        {
            "inode table" => (inodes, 64),
            "directory table" => (directories, 64),
            "id table" => (ids, 8), // the index: points the table somewhere wrong
            _ => (200, 4000),
        };
        new Random(5).NextBytes(bytes.AsSpan((int)from, length));
        File.WriteAllBytes(image, bytes);
        var e = Assert.Throws<SupermachineException>(() => ReadEverything(image));
        Assert.Equal("SM2108", e.Code);
    }
}
