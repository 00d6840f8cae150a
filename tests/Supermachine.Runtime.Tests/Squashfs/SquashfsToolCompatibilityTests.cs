using System.Text.RegularExpressions;
using Supermachine.Squashfs;
using Supermachine.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Supermachine.Tests.Squashfs;

/// <summary>
/// Our images against the reference tools and the kernel, on the synthetic trees: unsquashfs lists
/// and extracts exactly the source, sqfsdiff sees no difference to mksquashfs's image of the same
/// tree, and a loop mount shows the source.
/// </summary>
public sealed class SquashfsToolCompatibilityTests(TestTrees trees, ITestOutputHelper output) : IClassFixture<TestTrees>
{
    public static TheoryData<string> Trees => ["many", "special", "redis"];

    private string Tree(string name) => trees[name];

    /// <summary>Writes our image and mksquashfs's of the same tree (cached per tree within the fixture).</summary>
    private (string Ours, string Theirs) Images(string name)
    {
        lock (trees)
        {
            string dir = Path.Combine(trees.Root, "images");
            string ours = Path.Combine(dir, name + ".ours.sqfs");
            string theirs = Path.Combine(dir, name + ".mksquashfs.sqfs");
            if (!File.Exists(ours))
            {
                Directory.CreateDirectory(dir);
                SquashfsWriter.WriteDirectoryAsync(Tree(name), ours).GetAwaiter().GetResult();
                ExternalTool.Check("mksquashfs", Tree(name), theirs, "-noappend", "-quiet", "-no-progress", "-comp", "gzip", "-b", "131072");
                output.WriteLine($"{name}: ours {new FileInfo(ours).Length} bytes, mksquashfs {new FileInfo(theirs).Length} bytes");
            }
            return (ours, theirs);
        }
    }

    [RequiresToolTheory("mksquashfs", "unsquashfs")]
    [MemberData(nameof(Trees))]
    public void Unsquashfs_lists_our_image_as_it_lists_mksquashfs_image_of_the_same_tree(string name)
    {
        (string ours, string theirs) = Images(name);
        // A directory's listed size is the length of its on-disk listing, which depends on where
        // its children's inodes landed (layout, not content): blank it out, keep everything else.
        string[] Listing(string image) => ExternalTool.Check("unsquashfs", "-lln", image).Split('\n')
            .Where(l => l.Contains("squashfs-root"))
            .Select(l => l.StartsWith('d') ? Regex.Replace(l, @"^(\S+ \S+)\s+\d+ ", "$1 <dir> ") : l)
            .ToArray();
        string[] expected = Listing(theirs);
        string[] actual = Listing(ours);
        Assert.True(expected.Length > 10);
        Assert.Equal(expected, actual);
    }

    [RequiresToolTheory("unsquashfs")]
    [MemberData(nameof(Trees))]
    public void Unsquashfs_extracts_our_image_to_exactly_the_source_tree(string name)
    {
        (string ours, _) = Images(name);
        string extracted = Path.Combine(trees.Scratch("extract"), "root");
        ExternalTool.Check("unsquashfs", "-q", "-n", "-d", extracted, ours);
        TreeSnapshot.AssertSame(trees.Snapshot(name), TreeSnapshot.Of(extracted), "unsquashfs -d");
    }

    [RequiresToolTheory("mksquashfs", "sqfsdiff")]
    [MemberData(nameof(Trees))]
    public void Sqfsdiff_finds_no_difference_to_mksquashfs_image(string name)
    {
        (string ours, string theirs) = Images(name);
        var (code, stdout, stderr) = ExternalTool.Run("sqfsdiff", "--timestamps", "-a", theirs, "-b", ours);
        Assert.True(code == 0, $"sqfsdiff exit {code}: {stdout}{stderr}");
    }

    [RequiresToolTheory("mksquashfs")]
    [MemberData(nameof(Trees))]
    public void Our_image_is_within_two_percent_of_mksquashfs(string name)
    {
        (string ours, string theirs) = Images(name);
        double ratio = (double)new FileInfo(ours).Length / new FileInfo(theirs).Length;
        output.WriteLine($"size ratio ours/mksquashfs: {ratio:F4}");
        Assert.InRange(ratio, 0.5, 1.02);
    }

    [RequiresRootTheory("mount", "losetup")]
    [MemberData(nameof(Trees))]
    public void Kernel_mounts_our_image_and_shows_exactly_the_source_tree(string name)
    {
        (string ours, _) = Images(name);
        string mountPoint = trees.Scratch("mount");
        ExternalTool.Check("mount", "-t", "squashfs", "-o", "loop,ro", ours, mountPoint);
        try
        {
            TreeSnapshot.AssertSame(trees.Snapshot(name), TreeSnapshot.Of(mountPoint), "the mounted image");
        }
        finally
        {
            // umount of a loop mount made with -o loop also detaches the loop device (autoclear).
            ExternalTool.Run("umount", "-d", mountPoint);
        }
    }

    [RequiresToolFact("mksquashfs")]
    public void Reader_reads_mksquashfs_image_as_the_source_tree()
    {
        (_, string theirs) = Images("special");
        using SquashfsReader reader = SquashfsReader.Open(theirs);
        TreeSnapshot.AssertSame(trees.Snapshot("special"), TreeSnapshot.Of(reader.ReadEntries()), "our reader of mksquashfs's image");
    }
}
