using System.Text;
using Supermachine.Squashfs;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Squashfs;

/// <summary>xz images as the peers read them: squashfs-tools' unsquashfs and the Linux kernel.</summary>
public sealed class XzCompressionTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sm-squashfs-xz-").FullName;

    private string Tree()
    {
        string tree = Path.Combine(_root, "tree");
        Directory.CreateDirectory(Path.Combine(tree, "etc"));
        File.WriteAllText(Path.Combine(tree, "etc", "text"), string.Concat(Enumerable.Range(0, 50_000).Select(i => $"line {i}\n")));
        byte[] random = new byte[400_000];
        new Random(3).NextBytes(random);
        File.WriteAllBytes(Path.Combine(tree, "random"), random);
        File.WriteAllText(Path.Combine(tree, "small"), "tail packed into a fragment");
        return tree;
    }

    [RequiresToolFact("unsquashfs")]
    public async Task Unsquashfs_extracts_an_xz_image_exactly()
    {
        string tree = Tree();
        string image = Path.Combine(_root, "xz.sqfs");
        await SquashfsWriter.WriteDirectoryAsync(tree, image, new SquashfsWriterOptions { Compression = SquashfsCompression.Xz });

        string stat = ProcessRunner.Run("unsquashfs", ["-s", image]);
        Assert.Contains("Compression xz", stat);
        string extracted = Path.Combine(_root, "out");
        ProcessRunner.Run("unsquashfs", ["-d", extracted, image]);
        foreach (string name in new[] { "etc/text", "random", "small" })
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(tree, name)), File.ReadAllBytes(Path.Combine(extracted, name)));
        }
    }

    [RequiresRootFact("mount")]
    public async Task The_kernel_mounts_an_xz_image()
    {
        string tree = Tree();
        string image = Path.Combine(_root, "xz.sqfs");
        await SquashfsWriter.WriteDirectoryAsync(tree, image, new SquashfsWriterOptions { Compression = SquashfsCompression.Xz });
        string mountPoint = Path.Combine(_root, "mnt");
        Directory.CreateDirectory(mountPoint);
        ProcessRunner.Run("mount", ["-t", "squashfs", "-o", "loop,ro", image, mountPoint]);
        try
        {
            Assert.Equal(File.ReadAllText(Path.Combine(tree, "etc", "text")), File.ReadAllText(Path.Combine(mountPoint, "etc", "text"), Encoding.UTF8));
            Assert.Equal(File.ReadAllBytes(Path.Combine(tree, "random")), File.ReadAllBytes(Path.Combine(mountPoint, "random")));
        }
        finally
        {
            ProcessRunner.Run("umount", [mountPoint]);
        }
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
