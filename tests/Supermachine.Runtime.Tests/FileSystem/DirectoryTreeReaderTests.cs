using System.Text;
using Supermachine.Diagnostics;
using Supermachine.FileSystem;
using Supermachine.Tests.Infrastructure;
using Supermachine.Tests.Squashfs;

namespace Supermachine.Tests.FileSystem;

public sealed class DirectoryTreeReaderTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "sm-tree-reader-" + Guid.NewGuid().ToString("N")[..8]);

    public DirectoryTreeReaderTests() => Directory.CreateDirectory(_root);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void Walks_depth_first_with_names_sorted_by_their_utf8_bytes()
    {
        foreach (string name in new[] { "b", "B", "a", "é", "z", "_", "a.b", "a-b" })
        {
            File.WriteAllText(Path.Combine(_root, name), name);
        }
        Directory.CreateDirectory(Path.Combine(_root, "a0", "inner"));
        File.WriteAllText(Path.Combine(_root, "a0", "inner", "x"), "x");
        string[] paths = DirectoryTreeReader.Read(_root).Select(e => e.Path).ToArray();
        string[] expected = ["", "B", "_", "a", "a-b", "a.b", "a0", "a0/inner", "a0/inner/x", "b", "z", "é"];
        Assert.Equal(expected, paths);
        // Byte order, not UTF-16 or culture order.
        Assert.True(Encoding.UTF8.GetBytes("z").AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes("é")) < 0);
    }

    [RequiresRootFact("mknod", "mkfifo")]
    public void Reports_what_stat_reports_for_every_file_type()
    {
        ExternalTool.Bash($"""
            cd '{_root}'
            printf 'hello' > file; chown 1000:2000 file; chmod 4751 file; touch -d @1234567890 file
            ln file file-link; mkdir -p dir; ln file dir/file-link2
            ln -s file symlink; mknod cdev c 1 7; mknod bdev b 8 300; mkfifo fifo
            mkdir sticky; chmod 1777 sticky
            """);
        TestTrees.SetXattr(Path.Combine(_root, "file"), "user.k", "v"u8.ToArray());
        var entries = DirectoryTreeReader.Read(_root).ToDictionary(e => e.Path);

        FileSystemEntry file = entries["dir/file-link2"];
        // The first name met in walk order is the file, later names are hard links to it.
        Assert.Equal(FileSystemEntryType.RegularFile, file.Type);
        Assert.Equal(0x9E9 /* 04751 */, file.Mode);
        Assert.Equal((1000, 2000), (file.Uid, file.Gid));
        Assert.Equal(1234567890, file.ModificationTime);
        Assert.Equal(5, file.Size);
        Assert.Equal("v"u8.ToArray(), file.ExtendedAttributes["user.k"]);
        using (var reader = new StreamReader(file.OpenContent!()))
        {
            Assert.Equal("hello", reader.ReadToEnd());
        }
        Assert.Equal(FileSystemEntryType.HardLink, entries["file"].Type);
        Assert.Equal("dir/file-link2", entries["file"].LinkTarget);
        Assert.Equal("dir/file-link2", entries["file-link"].LinkTarget);
        Assert.Equal((FileSystemEntryType.Symlink, "file"), (entries["symlink"].Type, entries["symlink"].LinkTarget));
        Assert.Equal((FileSystemEntryType.CharacterDevice, 1, 7), (entries["cdev"].Type, entries["cdev"].DeviceMajor, entries["cdev"].DeviceMinor));
        Assert.Equal((FileSystemEntryType.BlockDevice, 8, 300), (entries["bdev"].Type, entries["bdev"].DeviceMajor, entries["bdev"].DeviceMinor));
        Assert.Equal(FileSystemEntryType.Fifo, entries["fifo"].Type);
        Assert.Equal(0x3FF, entries["sticky"].Mode);
        Assert.Equal(FileSystemEntryType.Directory, entries[""].Type);
    }

    [Fact]
    public void A_missing_directory_is_SM2109()
    {
        var e = Assert.Throws<SupermachineException>(() => DirectoryTreeReader.Read(Path.Combine(_root, "missing")).ToList());
        Assert.Equal("SM2109", e.Code);
    }
}
