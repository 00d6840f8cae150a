using Supermachine.Diagnostics;
using Supermachine.FileSystem;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.FileSystem;

/// <summary>
/// What `rootfs` writes on the host: no device nodes or setuid/setgid bits unless asked for, no
/// merging into a directory that holds something, and clear errors where Linux cannot follow.
/// </summary>
public class DirectoryTreeWriterTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sm-tree-writer-").FullName;

    private static FileSystemEntry[] Hostile() =>
    [
        new() { Path = "dev", Type = FileSystemEntryType.Directory, Mode = 0x1ed },
        new() { Path = "dev/vda", Type = FileSystemEntryType.BlockDevice, Mode = 0x1b6, DeviceMajor = 252, DeviceMinor = 0 },
        new() { Path = "dev/mem", Type = FileSystemEntryType.CharacterDevice, Mode = 0x1b6, DeviceMajor = 1, DeviceMinor = 1 },
        new() { Path = "bin", Type = FileSystemEntryType.Directory, Mode = 0x1ed },
        new() { Path = "bin/su", Type = FileSystemEntryType.RegularFile, Mode = 0x9ed, Size = 1, OpenContent = () => new MemoryStream([1]) }, // 04755
        new() { Path = "bin/wall", Type = FileSystemEntryType.RegularFile, Mode = 0x5ed, Size = 1, OpenContent = () => new MemoryStream([2]) }, // 02755
        new() { Path = "tmp", Type = FileSystemEntryType.Directory, Mode = 0x3ff }, // 01777
    ];

    private static int Mode(string path) => (int)File.GetUnixFileMode(path);

    [Fact]
    public async Task Device_nodes_and_setid_bits_are_skipped_with_one_summary_warning_by_default()
    {
        var warnings = new List<string>();
        string root = Path.Combine(_root, "default");
        await DirectoryTreeWriter.WriteAsync(Hostile().ToAsyncEnumerable(), root, new DirectoryTreeWriterOptions { Warning = warnings.Add });

        Assert.False(Path.Exists(Path.Combine(root, "dev", "vda")));
        Assert.False(Path.Exists(Path.Combine(root, "dev", "mem")));
        Assert.Equal(0x1ed, Mode(Path.Combine(root, "bin", "su")));
        Assert.Equal(0x1ed, Mode(Path.Combine(root, "bin", "wall")));
        Assert.Equal(0x3ff, Mode(Path.Combine(root, "tmp")));
        string warning = Assert.Single(warnings);
        Assert.StartsWith("SM4012", warning);
        Assert.Contains("2 device node(s)", warning);
        Assert.Contains("2 file(s)", warning);
        Assert.Contains("--preserve-devices", warning);
    }

    [Fact]
    public async Task Preserve_devices_keeps_setid_bits_and_as_root_makes_the_nodes()
    {
        var warnings = new List<string>();
        string root = Path.Combine(_root, "preserved");
        await DirectoryTreeWriter.WriteAsync(Hostile().ToAsyncEnumerable(), root, new DirectoryTreeWriterOptions { Warning = warnings.Add, PreserveDevices = true });

        Assert.Equal(0x9ed, Mode(Path.Combine(root, "bin", "su")));
        Assert.Equal(0x5ed, Mode(Path.Combine(root, "bin", "wall")));
        Assert.DoesNotContain(warnings, w => w.StartsWith("SM4012", StringComparison.Ordinal));
        if (DirectoryTreeWriter.IsRoot)
        {
            Assert.StartsWith("b", ProcessRunner.Run("stat", ["-c", "%A", Path.Combine(root, "dev", "vda")]));
        }
        else
        {
            Assert.Equal(2, warnings.Count(w => w.StartsWith("SM2016", StringComparison.Ordinal)));
        }
    }

    [Fact]
    public async Task A_non_empty_directory_is_SM2322_and_a_file_is_SM2323()
    {
        string full = Path.Combine(_root, "full");
        Directory.CreateDirectory(full);
        File.WriteAllText(Path.Combine(full, "stale"), "old");
        Assert.Equal("SM2322", Assert.Throws<SupermachineException>(() => DirectoryTreeWriter.EnsureEmptyTarget(full)).Code);
        DirectoryTreeWriter.EnsureEmptyTarget(Path.Combine(_root, "new"));
        Directory.CreateDirectory(Path.Combine(_root, "empty"));
        DirectoryTreeWriter.EnsureEmptyTarget(Path.Combine(_root, "empty"));

        string file = Path.Combine(_root, "file");
        File.WriteAllText(file, "data");
        Assert.Equal("SM2323", Assert.Throws<SupermachineException>(() => DirectoryTreeWriter.EnsureEmptyTarget(file)).Code);
        var e = await Assert.ThrowsAsync<SupermachineException>(() => DirectoryTreeWriter.WriteAsync(Hostile().ToAsyncEnumerable(), file));
        Assert.Equal("SM2323", e.Code);
        Assert.Equal("data", File.ReadAllText(file));
    }

    [Fact]
    public async Task A_path_longer_than_Linux_allows_is_SM2324_naming_the_entry()
    {
        string deep = string.Join('/', Enumerable.Range(0, 20).Select(i => new string((char)('a' + i), 250)));
        FileSystemEntry[] entries =
        [
            .. Enumerable.Range(1, 20).Select(n => new FileSystemEntry { Path = string.Join('/', deep.Split('/').Take(n)), Type = FileSystemEntryType.Directory, Mode = 0x1ed }),
            new() { Path = deep + "/file", Type = FileSystemEntryType.RegularFile, Mode = 0x1a4, OpenContent = () => new MemoryStream() },
        ];
        var e = await Assert.ThrowsAsync<SupermachineException>(() => DirectoryTreeWriter.WriteAsync(entries.ToAsyncEnumerable(), Path.Combine(_root, "deep")));
        Assert.Equal("SM2324", e.Code);
        Assert.Contains("the full path would be", e.Message);

        FileSystemEntry longName = new() { Path = new string('n', 300), Type = FileSystemEntryType.RegularFile, Mode = 0x1a4, OpenContent = () => new MemoryStream() };
        var named = await Assert.ThrowsAsync<SupermachineException>(() => DirectoryTreeWriter.WriteAsync(new[] { longName }.ToAsyncEnumerable(), Path.Combine(_root, "long")));
        Assert.Equal("SM2324", named.Code);
        Assert.Contains("300 bytes", named.Message);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
