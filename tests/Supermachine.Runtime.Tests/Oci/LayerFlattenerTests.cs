using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Supermachine.Compression;
using Supermachine.Diagnostics;
using Supermachine.FileSystem;
using Supermachine.Oci.Layers;
using Supermachine.Oci.References;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Oci;

/// <summary>The flattener and the directory writer on hand-made layers: semantics, safety and limits.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LayerFlattenerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sm-flatten-").FullName;
    private readonly List<string> _warnings = [];

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public enum Compression { None, Gzip, Zstd }

    private LayerInput Layer(string name, Compression compression, params TarEntry[] entries)
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (TarEntry entry in entries)
            {
                writer.WriteEntry(entry);
            }
        }
        byte[] bytes = tar.ToArray();
        if (compression == Compression.Gzip)
        {
            var gz = new MemoryStream();
            using (var g = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
            {
                g.Write(bytes);
            }
            bytes = gz.ToArray();
        }
        else if (compression == Compression.Zstd)
        {
            bytes = ZstdCompress(bytes);
        }
        string path = Path.Combine(_dir, name);
        System.IO.File.WriteAllBytes(path, bytes);
        return new LayerInput(path, OciDigest.Compute(bytes));
    }

    internal static unsafe byte[] ZstdCompress(byte[] input)
    {
        byte[] output = new byte[(int)LibZstd.CompressBound((nuint)input.Length)];
        fixed (byte* i = input)
        fixed (byte* o = output)
        {
            nuint n = LibZstd.Check(LibZstd.Compress(o, (nuint)output.Length, i, (nuint)input.Length, 3));
            return output[..(int)n];
        }
    }

    private static PaxTarEntry File(string name, string content, int mode = 0x1a4)
    {
        return new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content)), Mode = (UnixFileMode)mode, ModificationTime = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000) };
    }

    private static PaxTarEntry Dir(string name) => new(TarEntryType.Directory, name) { Mode = (UnixFileMode)0x1ed };

    private static PaxTarEntry Symlink(string name, string target) => new(TarEntryType.SymbolicLink, name) { LinkName = target };

    private static PaxTarEntry HardLink(string name, string target) => new(TarEntryType.HardLink, name) { LinkName = target };

    private async Task<List<(FileSystemEntry Entry, string? Content)>> FlattenAsync(LayerFlattenerOptions? options, params LayerInput[] layers)
    {
        var result = new List<(FileSystemEntry, string?)>();
        var flattener = new LayerFlattener(layers, "test-image", options ?? new LayerFlattenerOptions { Warning = _warnings.Add });
        await foreach (FileSystemEntry entry in flattener.FlattenAsync())
        {
            string? content = null;
            if (entry.OpenContent is not null)
            {
                using var reader = new StreamReader(entry.OpenContent());
                content = await reader.ReadToEndAsync();
            }
            result.Add((entry, content));
        }
        return result;
    }

    [Theory]
    [InlineData(Compression.None)]
    [InlineData(Compression.Gzip)]
    [InlineData(Compression.Zstd)]
    public async Task Whiteouts_opaque_dirs_type_changes_and_hard_links_across_layers(Compression c)
    {
        LayerInput l1 = Layer("l1", c, Dir("a"), File("a/keep", "k"), File("a/gone", "g"), Dir("b"), File("b/x", "x"), Dir("c"), File("c/old", "o"),
            File("f", "file"), Dir("d"), File("d/in", "i"), File("orig", "original"), File("t", "t1"));
        LayerInput l2 = Layer("l2", c, File("a/.wh.gone", ""), Dir("b"), File("b/.wh..wh..opq", ""), File("b/y", "y"),
            File(".wh.c", ""), Dir("f"), File("f/now-dir", "n"), File("d", "now a file"), HardLink("link-to-orig", "orig"), HardLink("t2", "t"));
        LayerInput l3 = Layer("l3", c, File("orig", "replaced"), File("t", "t3"));
        var entries = await FlattenAsync(null, l1, l2, l3);
        var byPath = entries.ToDictionary(e => e.Entry.Path);

        Assert.Equal(["", "a", "b", "f"], entries.Where(e => e.Entry.Type == FileSystemEntryType.Directory).Select(e => e.Entry.Path));
        Assert.Equal("k", byPath["a/keep"].Content);
        Assert.False(byPath.ContainsKey("a/gone"));
        Assert.False(byPath.ContainsKey("b/x"));
        Assert.Equal("y", byPath["b/y"].Content);
        Assert.False(byPath.ContainsKey("c") || byPath.ContainsKey("c/old"));
        Assert.Equal("n", byPath["f/now-dir"].Content);
        Assert.Equal("now a file", byPath["d"].Content);
        Assert.False(byPath.ContainsKey("d/in"));
        // orig was replaced after the link was made: the link keeps the old content, now as the file itself.
        Assert.Equal("replaced", byPath["orig"].Content);
        Assert.Equal("original", byPath["link-to-orig"].Content);
        Assert.Equal(FileSystemEntryType.RegularFile, byPath["t2"].Entry.Type);
        Assert.Equal("t1", byPath["t2"].Content);
        Assert.Equal(entries.Count, byPath.Count);
        Assert.Empty(_warnings);
    }

    [Fact]
    public async Task Hard_links_to_a_surviving_file_are_yielded_as_links_after_it()
    {
        LayerInput l1 = Layer("l1", Compression.Gzip, File("data", "same inode"));
        LayerInput l2 = Layer("l2", Compression.Gzip, HardLink("alias", "data"), HardLink("./alias2", "./data"));
        var entries = await FlattenAsync(null, l1, l2);
        int file = entries.FindIndex(e => e.Entry.Path == "data");
        Assert.Equal("same inode", entries[file].Content);
        Assert.All(entries.Where(e => e.Entry.Path.StartsWith("alias", StringComparison.Ordinal)), e =>
        {
            Assert.Equal(FileSystemEntryType.HardLink, e.Entry.Type);
            Assert.Equal("data", e.Entry.LinkTarget);
            Assert.True(entries.IndexOf(e) > file);
        });
    }

    [Fact]
    public async Task Tar_slip_entries_are_skipped_with_warnings_and_nothing_lands_outside()
    {
        string outside = Path.Combine(_dir, "outside");
        Directory.CreateDirectory(outside);
        LayerInput evil = Layer("evil", Compression.Gzip,
            File("../escape-dotdot", "x"),
            File("/abs-escape", "x"),
            File("ok/../../escape-mid", "x"),
            Symlink("link", outside),
            File("link/through-symlink", "x"),
            Symlink("rel", "../../.."),
            File("rel/escape-rel", "x"),
            HardLink("hl", "../../etc/passwd"),
            File("fine", "fine"));
        var entries = await FlattenAsync(null, evil);
        Assert.Equal(["", "link", "rel", "fine"], entries.Select(e => e.Entry.Path));
        Assert.Equal(6, _warnings.Count);
        Assert.All(_warnings, w => Assert.StartsWith("SM2015", w));

        string root = Path.Combine(_dir, "root");
        await DirectoryTreeWriter.WriteAsync(new LayerFlattener([evil], "test-image").FlattenAsync(), root);
        Assert.Empty(Directory.GetFileSystemEntries(outside));
        Assert.False(System.IO.File.Exists(Path.Combine(_dir, "escape-dotdot")));
        Assert.Equal("fine", System.IO.File.ReadAllText(Path.Combine(root, "fine")));
    }

    [Fact]
    public async Task Directory_writer_never_writes_through_a_symlink_or_outside_the_root()
    {
        string outside = Path.Combine(_dir, "outside");
        Directory.CreateDirectory(outside);
        string root = Path.Combine(_dir, "root");
        var warnings = new List<string>();
        FileSystemEntry[] entries =
        [
            new() { Path = "link", Type = FileSystemEntryType.Symlink, LinkTarget = outside, Mode = 0x1ff },
            new() { Path = "link/file", Type = FileSystemEntryType.RegularFile, Mode = 0x1a4, Size = 1, OpenContent = () => new MemoryStream([1]) },
            new() { Path = "../up", Type = FileSystemEntryType.RegularFile, Mode = 0x1a4, OpenContent = () => new MemoryStream() },
            new() { Path = "/abs", Type = FileSystemEntryType.Directory, Mode = 0x1ed },
            new() { Path = "hl", Type = FileSystemEntryType.HardLink, LinkTarget = "link/../../outside/x" },
            new() { Path = "f", Type = FileSystemEntryType.RegularFile, Mode = 0x1a4, Size = 2, OpenContent = () => new MemoryStream([1, 2]) },
            // A later entry replaces the symlink by a directory: from then on writing into it is fine and stays inside.
            new() { Path = "link", Type = FileSystemEntryType.Directory, Mode = 0x1ed },
            new() { Path = "link/file", Type = FileSystemEntryType.RegularFile, Mode = 0x1a4, Size = 1, OpenContent = () => new MemoryStream([7]) },
        ];
        await DirectoryTreeWriter.WriteAsync(entries.ToAsyncEnumerable(), root, new DirectoryTreeWriterOptions { Warning = warnings.Add });
        Assert.Empty(Directory.GetFileSystemEntries(outside));
        Assert.False(System.IO.File.Exists(Path.Combine(_dir, "up")));
        Assert.Equal([7], System.IO.File.ReadAllBytes(Path.Combine(root, "link/file")));
        Assert.True(new DirectoryInfo(Path.Combine(root, "link")).LinkTarget is null);
        Assert.Equal(4, warnings.Count);
        Assert.All(warnings, w => Assert.StartsWith("SM2016", w));
    }

    [Theory]
    [InlineData(Compression.Gzip)]
    [InlineData(Compression.Zstd)]
    public async Task A_decompression_bomb_stops_at_the_cap_with_SM2013(Compression compression)
    {
        var zeros = new PaxTarEntry(TarEntryType.RegularFile, "zeros") { DataStream = new MemoryStream(new byte[8 << 20]) };
        LayerInput bomb = Layer("bomb", compression, zeros);
        Assert.True(new FileInfo(bomb.Path).Length < 100_000);
        var ex = await Assert.ThrowsAsync<SupermachineException>(() => FlattenAsync(new LayerFlattenerOptions { MaxLayerBytes = 1 << 20 }, bomb));
        Assert.Equal("SM2013", ex.Code);
    }

    [Fact]
    public async Task A_layer_whose_bytes_do_not_match_its_digest_is_SM2007()
    {
        LayerInput layer = Layer("l", Compression.Gzip, File("a", "a"));
        var ex = await Assert.ThrowsAsync<SupermachineException>(() => FlattenAsync(null, layer with { Digest = OciDigest.Compute([1, 2, 3]) }));
        Assert.Equal("SM2007", ex.Code);
    }

    [Fact]
    public async Task A_corrupt_or_truncated_layer_is_SM2014()
    {
        LayerInput layer = Layer("l", Compression.Gzip, File("a", new string('a', 100_000)));
        byte[] bytes = System.IO.File.ReadAllBytes(layer.Path);
        System.IO.File.WriteAllBytes(layer.Path, bytes[..(bytes.Length / 2)]);
        var ex = await Assert.ThrowsAsync<SupermachineException>(() => FlattenAsync(null, layer with { Digest = null }));
        Assert.Equal("SM2014", ex.Code);
    }

    [Fact]
    public async Task Modes_owners_devices_long_names_and_xattrs_come_through()
    {
        string longName = string.Join('/', Enumerable.Range(0, 6).Select(i => new string((char)('a' + i), 60))) + "/é-日本-file";
        var xattr = new PaxTarEntry(TarEntryType.RegularFile, "x", new Dictionary<string, string> { ["SCHILY.xattr.user.note"] = "hi", ["LIBARCHIVE.xattr.security.capability"] = Convert.ToBase64String([1, 0, 0, 2, 0xff]) }) { DataStream = new MemoryStream() };
        LayerInput layer = Layer("l", Compression.None,
            new PaxTarEntry(TarEntryType.RegularFile, "suid") { Mode = (UnixFileMode)0xded, Uid = 1000, Gid = 2000, DataStream = new MemoryStream([1]) },
            new PaxTarEntry(TarEntryType.CharacterDevice, "dev/null") { DeviceMajor = 1, DeviceMinor = 3, Mode = (UnixFileMode)0x1b6 },
            new PaxTarEntry(TarEntryType.Fifo, "fifo") { Mode = (UnixFileMode)0x180 },
            File(longName, "deep"),
            xattr);
        var byPath = (await FlattenAsync(null, layer)).ToDictionary(e => e.Entry.Path);
        Assert.Equal(0xded, byPath["suid"].Entry.Mode);
        Assert.Equal((1000, 2000), (byPath["suid"].Entry.Uid, byPath["suid"].Entry.Gid));
        Assert.Equal((FileSystemEntryType.CharacterDevice, 1, 3), (byPath["dev/null"].Entry.Type, byPath["dev/null"].Entry.DeviceMajor, byPath["dev/null"].Entry.DeviceMinor));
        Assert.True(byPath.ContainsKey("dev")); // implied parent directory
        Assert.Equal(FileSystemEntryType.Fifo, byPath["fifo"].Entry.Type);
        Assert.Equal("deep", byPath[longName].Content);
        Assert.Equal("hi"u8.ToArray(), byPath["x"].Entry.ExtendedAttributes["user.note"]);
        Assert.Equal([1, 0, 0, 2, 0xff], byPath["x"].Entry.ExtendedAttributes["security.capability"]);
    }

    [Fact]
    public void Zstd_stream_reads_concatenated_frames_and_rejects_truncation()
    {
        byte[] a = ZstdCompress("hello "u8.ToArray());
        byte[] b = ZstdCompress(new byte[300_000]);
        using (var z = new ZstdDecompressionStream(new MemoryStream([.. a, .. b])))
        {
            var output = new MemoryStream();
            z.CopyTo(output);
            Assert.Equal(6 + 300_000, output.Length);
        }
        using var truncated = new ZstdDecompressionStream(new MemoryStream(b[..(b.Length - 3)]));
        Assert.Throws<InvalidDataException>(() => truncated.CopyTo(Stream.Null));
    }

    [Fact]
    public async Task Binary_SCHILY_xattr_values_such_as_file_capabilities_keep_their_bytes()
    {
        byte[] capability = [0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0xff, 0xc3, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
        byte[] record = PaxRecord("SCHILY.xattr.security.capability", capability);
        var tar = new MemoryStream();
        WriteMember(tar, "PaxHeaders/ping", 'x', record);
        WriteMember(tar, "ping", '0', "elf"u8.ToArray());
        WriteMember(tar, "after", '0', "x"u8.ToArray());
        tar.Write(new byte[1024]);
        string path = Path.Combine(_dir, "caps.tar");
        System.IO.File.WriteAllBytes(path, tar.ToArray());
        var byPath = (await FlattenAsync(null, new LayerInput(path, null))).ToDictionary(e => e.Entry.Path);
        Assert.Equal(capability, byPath["ping"].Entry.ExtendedAttributes["security.capability"]);
        Assert.Equal("elf", byPath["ping"].Content);
        Assert.Empty(byPath["after"].Entry.ExtendedAttributes);
    }

    private static byte[] PaxRecord(string key, byte[] value)
    {
        int body = 1 + Encoding.UTF8.GetByteCount(key) + 1 + value.Length + 1;
        int length = body + 1;
        while ((length.ToString(System.Globalization.CultureInfo.InvariantCulture).Length + body) != length)
        {
            length++;
        }
        return [.. Encoding.ASCII.GetBytes(length.ToString(System.Globalization.CultureInfo.InvariantCulture) + " " + key + "="), .. value, (byte)'\n'];
    }

    private static void WriteMember(Stream tar, string name, char type, byte[] data)
    {
        byte[] h = new byte[512];
        void Put(int offset, string text) => Encoding.ASCII.GetBytes(text).CopyTo(h, offset);
        Put(0, name);
        Put(100, "0000644\0");
        Put(108, "0000000\0");
        Put(116, "0000000\0");
        Put(124, Convert.ToString(data.Length, 8).PadLeft(11, '0') + "\0");
        Put(136, Convert.ToString(1_700_000_000L, 8).PadLeft(11, '0') + "\0");
        Put(148, "        ");
        h[156] = (byte)type;
        Put(257, "ustar\0");
        Put(263, "00");
        int sum = h.Sum(b => b);
        Put(148, Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ");
        tar.Write(h);
        tar.Write(data);
        tar.Write(new byte[(512 - data.Length % 512) % 512]);
    }
}
