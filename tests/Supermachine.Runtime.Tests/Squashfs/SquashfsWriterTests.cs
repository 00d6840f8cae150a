using System.Security.Cryptography;
using System.Text;
using Supermachine.Diagnostics;
using Supermachine.FileSystem;
using Supermachine.Squashfs;

namespace Supermachine.Tests.Squashfs;

/// <summary>The writer on entry streams built in memory: round trips through our reader, determinism, and every rejected input.</summary>
public sealed class SquashfsWriterTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "sm-squashfs-writer-" + Guid.NewGuid().ToString("N")[..8]);

    public SquashfsWriterTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static FileSystemEntry Dir(string path, int mode = 0x1ED, long mtime = 1_600_000_000) =>
        new() { Path = path, Type = FileSystemEntryType.Directory, Mode = mode, ModificationTime = mtime };

    private static FileSystemEntry File(string path, byte[] content, int mode = 0x1A4, int uid = 0, int gid = 0, long mtime = 1_600_000_000, Dictionary<string, byte[]>? xattrs = null) =>
        new()
        {
            Path = path,
            Type = FileSystemEntryType.RegularFile,
            Mode = mode,
            Uid = uid,
            Gid = gid,
            ModificationTime = mtime,
            Size = content.Length,
            OpenContent = () => new MemoryStream(content, writable: false),
            ExtendedAttributes = xattrs ?? new Dictionary<string, byte[]>(),
        };

    /// <summary>Every kind of entry and content shape: fragments, whole blocks, sparse runs, incompressible data, duplicates.</summary>
    private static List<FileSystemEntry> Everything()
    {
        byte[] random = new byte[300_000];
        new Random(1).NextBytes(random);
        byte[] sparse = new byte[5 * 131072 + 77];
        random.AsSpan(0, 1000).CopyTo(sparse.AsSpan(2 * 131072));
        byte[] text = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 20000).Select(i => $"line {i}\n")));
        return
        [
            Dir("", 0x1ED, 1_700_000_000),
            Dir("etc", 0x1ED),
            File("etc/hostname", "box\n"u8.ToArray(), uid: 1000, gid: 1000, xattrs: new() { ["user.a"] = [1, 2, 3], ["security.capability"] = new byte[20] }),
            File("etc/copy-of-hostname", "box\n"u8.ToArray(), mtime: 5),
            File("random", random, mode: 0x1ED),
            File("sparse", sparse, mode: 0x180),
            File("text", text, mode: 0xDED /* 06755 */),
            File("empty", [], mtime: 0),
            File("exact", random.AsSpan(0, 131072).ToArray()),
            new() { Path = "link", Type = FileSystemEntryType.Symlink, Mode = 0x1FF, LinkTarget = "etc/hostname", ModificationTime = 7 },
            new() { Path = "hard", Type = FileSystemEntryType.HardLink, LinkTarget = "text" },
            new() { Path = "etc/hard2", Type = FileSystemEntryType.HardLink, LinkTarget = "text" },
            new() { Path = "dev/null", Type = FileSystemEntryType.CharacterDevice, Mode = 0x1B6, DeviceMajor = 1, DeviceMinor = 3 },
            new() { Path = "dev/vda", Type = FileSystemEntryType.BlockDevice, Mode = 0x1B0, DeviceMajor = 254, DeviceMinor = 300000, Gid = 6 },
            new() { Path = "run/fifo", Type = FileSystemEntryType.Fifo, Mode = 0x1A4, ExtendedAttributes = new Dictionary<string, byte[]> { ["trusted.x"] = "y"u8.ToArray() } },
            new() { Path = "run/socket", Type = FileSystemEntryType.Socket, Mode = 0x1ED, Uid = 65534 },
            Dir("tmp", 0x3FF /* 01777 */),
        ];
    }

    private static async IAsyncEnumerable<FileSystemEntry> Stream(IEnumerable<FileSystemEntry> entries)
    {
        foreach (FileSystemEntry e in entries)
        {
            await Task.Yield();
            yield return e;
        }
    }

    private static List<FileSystemEntry> ReadBack(string image)
    {
        using SquashfsReader reader = SquashfsReader.Open(image);
        return reader.ReadEntries().Select(e => e.OpenContent is null ? e : e with { OpenContent = Materialize(e.OpenContent) }).ToList();
    }

    private static Func<Stream> Materialize(Func<Stream> open)
    {
        using Stream s = open();
        var copy = new MemoryStream();
        s.CopyTo(copy);
        byte[] bytes = copy.ToArray();
        return () => new MemoryStream(bytes);
    }

    [Theory]
    [InlineData(nameof(SquashfsCompression.Gzip))]
    [InlineData(nameof(SquashfsCompression.Zstd))]
    [InlineData(nameof(SquashfsCompression.Xz))]
    [InlineData(nameof(SquashfsCompression.None))]
    public async Task Every_entry_kind_round_trips_through_the_reader(string compressionName)
    {
        var compression = Enum.Parse<SquashfsCompression>(compressionName);
        string image = Path.Combine(_dir, "all.sqfs");
        await SquashfsWriter.WriteAsync(Stream(Everything()), image, new SquashfsWriterOptions { Compression = compression });

        using (SquashfsReader reader = SquashfsReader.Open(image))
        {
            Assert.Equal(compression, reader.Compression);
            Assert.Equal(1_700_000_000, reader.ModificationTime); // newest input mtime
        }
        var expected = TreeSnapshot.Of(Everything().Where(e => e.Path is not ("dev" or "run")));
        var actual = TreeSnapshot.Of(ReadBack(image));
        // dev and run were never given: created as 0755 root directories with mtime 0.
        Assert.Equal("d | 755 | 0:0 | - | 0 |  | - | - | - | ", actual["dev"]);
        Assert.Equal("d | 755 | 0:0 | - | 0 |  | - | - | - | ", actual["run"]);
        actual.Remove("dev");
        actual.Remove("run");
        TreeSnapshot.AssertSame(expected, actual, "the image read back");
        Assert.Equal(0, new FileInfo(image).Length % 4096);
    }

    [Fact]
    public async Task Same_entries_in_any_order_and_parallelism_give_identical_bytes()
    {
        string a = Path.Combine(_dir, "a.sqfs");
        string b = Path.Combine(_dir, "b.sqfs");
        string c = Path.Combine(_dir, "c.sqfs");
        List<FileSystemEntry> entries = Everything();
        // Many small files so fragments and metadata span several blocks.
        for (int i = 0; i < 3000; i++)
        {
            entries.Add(File($"many/d{i % 7}/file-{i:D4}", Encoding.ASCII.GetBytes(new string((char)('a' + i % 26), i % 900))));
        }
        await SquashfsWriter.WriteAsync(Stream(entries), a, new SquashfsWriterOptions { MaxDegreeOfParallelism = 2 });
        var shuffled = entries.OrderBy(_ => Random.Shared.Next()).ToList();
        await SquashfsWriter.WriteAsync(Stream(shuffled), b, new SquashfsWriterOptions { MaxDegreeOfParallelism = 1 });
        entries.Reverse();
        await SquashfsWriter.WriteAsync(Stream(entries), c, new SquashfsWriterOptions { MaxDegreeOfParallelism = 4 });

        byte[] expected = System.IO.File.ReadAllBytes(a);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(expected)), Convert.ToHexString(SHA256.HashData(System.IO.File.ReadAllBytes(b))));
        Assert.Equal(Convert.ToHexString(SHA256.HashData(expected)), Convert.ToHexString(SHA256.HashData(System.IO.File.ReadAllBytes(c))));
    }

    [Fact]
    public async Task A_directory_written_in_its_own_order_equals_the_same_entries_laid_out_again()
    {
        // A sorted walk goes straight to the output (duplicates written over, fragments between
        // the data blocks); a shuffled stream of the same entries takes the re-layout. Same bytes.
        string tree = Path.Combine(_dir, "tree");
        byte[] random = new byte[3 * 131072 + 5000];
        new Random(3).NextBytes(random);
        Directory.CreateDirectory(Path.Combine(tree, "a"));
        Directory.CreateDirectory(Path.Combine(tree, "b", "c"));
        System.IO.File.WriteAllBytes(Path.Combine(tree, "a", "big"), random);
        System.IO.File.WriteAllBytes(Path.Combine(tree, "a", "zeros"), new byte[2 * 131072 + 10]);
        System.IO.File.WriteAllBytes(Path.Combine(tree, "b", "big-again"), random);       // duplicate in the middle
        for (int i = 0; i < 400; i++)
        {
            System.IO.File.WriteAllBytes(Path.Combine(tree, "b", "c", $"s{i:D3}"), random.AsSpan(i * 97, 700 + i * 13 % 2000).ToArray());
        }
        System.IO.File.WriteAllBytes(Path.Combine(tree, "b", "c", "s000-copy"), random.AsSpan(0, 700).ToArray());
        System.IO.File.WriteAllBytes(Path.Combine(tree, "z-last-big-again"), random);    // duplicate at the very end

        string direct = Path.Combine(_dir, "direct.sqfs");
        string relaid = Path.Combine(_dir, "relaid.sqfs");
        await SquashfsWriter.WriteDirectoryAsync(tree, direct);
        var shuffled = DirectoryTreeReader.Read(tree).OrderBy(_ => Random.Shared.Next()).ToList();
        await SquashfsWriter.WriteAsync(Stream(shuffled), relaid, new SquashfsWriterOptions { MaxDegreeOfParallelism = 3 });

        Assert.Equal(SHA256.HashData(System.IO.File.ReadAllBytes(relaid)), SHA256.HashData(System.IO.File.ReadAllBytes(direct)));
        var read = ReadBack(direct).ToDictionary(e => e.Path);
        Assert.Equal(random, ReadAll(read["z-last-big-again"]));
        Assert.Equal(random, ReadAll(read["b/big-again"]));
        Assert.Equal(new byte[2 * 131072 + 10], ReadAll(read["a/zeros"]));
        Assert.Equal(random.AsSpan(399 * 97, 700 + 399 * 13 % 2000).ToArray(), ReadAll(read["b/c/s399"]));
        Assert.Equal(["direct.sqfs", "relaid.sqfs", "tree"], Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    private static byte[] ReadAll(FileSystemEntry e)
    {
        using Stream s = e.OpenContent!();
        var copy = new MemoryStream();
        s.CopyTo(copy);
        return copy.ToArray();
    }

    [Fact]
    public async Task A_later_entry_replaces_an_earlier_one_and_directories_merge()
    {
        string image = Path.Combine(_dir, "layers.sqfs");
        FileSystemEntry[] layers =
        [
            Dir("app", 0x1C0, 10),
            File("app/config", "old"u8.ToArray()),
            File("app/keep", "kept"u8.ToArray()),
            Dir("was-dir"),
            File("was-dir/child", "gone"u8.ToArray()),
            Dir("app", 0x1ED, 20),                         // upper layer: new metadata, children stay
            File("app/config", "new!"u8.ToArray()),        // replaced content
            File("was-dir", "now a file"u8.ToArray()),     // a directory replaced by a file drops its children
        ];
        await SquashfsWriter.WriteAsync(Stream(layers), image);
        var entries = ReadBack(image).ToDictionary(e => e.Path);
        Assert.Equal(0x1ED, entries["app"].Mode);
        Assert.Equal(20, entries["app"].ModificationTime);
        Assert.Equal("new!", new StreamReader(entries["app/config"].OpenContent!()).ReadToEnd());
        Assert.Equal("kept", new StreamReader(entries["app/keep"].OpenContent!()).ReadToEnd());
        Assert.Equal(FileSystemEntryType.RegularFile, entries["was-dir"].Type);
        Assert.False(entries.ContainsKey("was-dir/child"));
    }

    public static TheoryData<string, object> BadEntries => new()
    {
        { "SM2102", File(new string('x', 256), []) },
        { "SM2102", File("dir/" + string.Concat(Enumerable.Repeat("é", 128)), []) },
        { "SM2101", File("a/../b", []) },
        { "SM2101", File("/absolute", []) },
        { "SM2101", File("a//b", []) },
        { "SM2101", File("nul\0byte", []) },
        { "SM2103", File("old", [], mtime: -1) },
        { "SM2103", File("future", [], mtime: 1L << 32) },
        { "SM2103", File("acl", [], xattrs: new() { ["system.posix_acl_access"] = [2, 0, 0, 0] }) },
        { "SM2103", new FileSystemEntry { Path = "dev", Type = FileSystemEntryType.CharacterDevice, DeviceMajor = 4096 } },
        { "SM2103", new FileSystemEntry { Path = "", Type = FileSystemEntryType.RegularFile } },
        { "SM2103", new FileSystemEntry { Path = "s", Type = FileSystemEntryType.Symlink, LinkTarget = "" } },
        { "SM2104", new FileSystemEntry { Path = "h", Type = FileSystemEntryType.HardLink, LinkTarget = "missing" } },
        { "SM2104", new FileSystemEntry { Path = "h", Type = FileSystemEntryType.HardLink, LinkTarget = "etc" } },
        { "SM2107", File("short", "abc"u8.ToArray()) with { Size = 10 } },
        { "SM2107", File("long", "abcdef"u8.ToArray()) with { Size = 2 } },
        { "SM2107", new FileSystemEntry { Path = "nothing", Type = FileSystemEntryType.RegularFile, Size = 5 } },
    };

    [Theory]
    [MemberData(nameof(BadEntries))]
    public async Task Unrepresentable_entries_fail_with_their_code_and_leave_nothing_behind(string code, object badEntry)
    {
        var bad = (FileSystemEntry)badEntry;
        string image = Path.Combine(_dir, "bad.sqfs");
        FileSystemEntry[] entries = [Dir(""), Dir("etc"), File("etc/ok", "fine"u8.ToArray()), bad];
        var e = await Assert.ThrowsAsync<SupermachineException>(() => SquashfsWriter.WriteAsync(Stream(entries), image));
        Assert.Equal(code, e.Code);
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public async Task A_file_used_as_a_directory_is_SM2105()
    {
        FileSystemEntry[] entries = [File("f", "x"u8.ToArray()), File("f/child", "y"u8.ToArray())];
        var e = await Assert.ThrowsAsync<SupermachineException>(() => SquashfsWriter.WriteAsync(Stream(entries), Path.Combine(_dir, "x.sqfs")));
        Assert.Equal("SM2105", e.Code);
        Assert.Contains("f/child", e.Message);
    }

    [Fact]
    public async Task Invalid_block_size_is_SM2110()
    {
        var e = await Assert.ThrowsAsync<SupermachineException>(() =>
            SquashfsWriter.WriteAsync(Stream([Dir("")]), Path.Combine(_dir, "x.sqfs"), new SquashfsWriterOptions { BlockSize = 100_000 }));
        Assert.Equal("SM2110", e.Code);
    }

    [Fact]
    public async Task Cancellation_leaves_neither_output_nor_temporary_files_and_keeps_an_older_image()
    {
        string image = Path.Combine(_dir, "image.sqfs");
        System.IO.File.WriteAllText(image, "previous image");
        using var cts = new CancellationTokenSource();
        async IAsyncEnumerable<FileSystemEntry> Endless()
        {
            byte[] block = new byte[200_000];
            new Random(2).NextBytes(block);
            for (int i = 0; ; i++)
            {
                if (i == 50)
                {
                    cts.Cancel();
                }
                await Task.Yield();
                yield return File($"f{i}", block);
            }
        }
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => SquashfsWriter.WriteAsync(Endless(), image, cancellationToken: cts.Token));
        Assert.Equal(["image.sqfs"], Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName));
        Assert.Equal("previous image", System.IO.File.ReadAllText(image));
    }

    [Fact]
    public async Task Output_in_a_missing_directory_is_SM2106()
    {
        var e = await Assert.ThrowsAsync<SupermachineException>(() =>
            SquashfsWriter.WriteAsync(Stream([Dir("")]), Path.Combine(_dir, "no", "such", "dir", "x.sqfs")));
        Assert.Equal("SM2106", e.Code);
    }

    [Fact]
    public async Task Large_directories_get_an_index_the_reader_and_listing_agree_on()
    {
        string image = Path.Combine(_dir, "wide.sqfs");
        var entries = Enumerable.Range(0, 5000).Select(i => File($"wide/{i:D5}-{new string('n', i % 100)}", [])).ToList();
        await SquashfsWriter.WriteAsync(Stream(entries), image);
        var names = ReadBack(image).Where(e => e.Path.StartsWith("wide/", StringComparison.Ordinal)).Select(e => e.Path).ToList();
        Assert.Equal(entries.Select(e => e.Path).Order(StringComparer.Ordinal), names);
    }
}
