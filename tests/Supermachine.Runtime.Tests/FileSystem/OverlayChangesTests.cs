using System.Text;
using Supermachine.FileSystem;
using Supermachine.Squashfs;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.FileSystem;

/// <summary>A lower squashfs plus an overlayfs upper directory, committed into one new squashfs.</summary>
public class OverlayChangesTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sm-overlay-").FullName;

    [RequiresRootFact("setfattr")]
    public async Task Whiteouts_opaque_directories_replacements_and_additions_commit_into_one_image()
    {
        string lowerDir = Path.Combine(_root, "lower");
        foreach (string dir in new[] { "keep", "gone", "opaque", "becomes-file" })
        {
            Directory.CreateDirectory(Path.Combine(lowerDir, dir));
        }
        File.WriteAllText(Path.Combine(lowerDir, "keep/a.txt"), "lower a");
        File.WriteAllText(Path.Combine(lowerDir, "keep/changed.txt"), "lower version");
        File.WriteAllText(Path.Combine(lowerDir, "keep/deleted.txt"), "to be deleted");
        File.WriteAllText(Path.Combine(lowerDir, "gone/inside.txt"), "whole dir deleted");
        File.WriteAllText(Path.Combine(lowerDir, "opaque/old.txt"), "hidden by opaque");
        File.WriteAllText(Path.Combine(lowerDir, "becomes-file/child.txt"), "hidden by a file");
        string lower = Path.Combine(_root, "lower.sqfs");
        await SquashfsWriter.WriteDirectoryAsync(lowerDir, lower);

        // What overlayfs leaves in its upper directory after the build step.
        string upper = Path.Combine(_root, "upper");
        Directory.CreateDirectory(Path.Combine(upper, "keep"));
        Directory.CreateDirectory(Path.Combine(upper, "opaque"));
        File.WriteAllText(Path.Combine(upper, "keep/changed.txt"), "upper version");
        File.WriteAllText(Path.Combine(upper, "keep/new.txt"), "added");
        File.WriteAllText(Path.Combine(upper, "opaque/fresh.txt"), "only this");
        File.WriteAllText(Path.Combine(upper, "becomes-file"), "now a file");
        ProcessRunner.Run("mknod", [Path.Combine(upper, "keep/deleted.txt"), "c", "0", "0"]);
        ProcessRunner.Run("mknod", [Path.Combine(upper, "gone"), "c", "0", "0"]);
        ProcessRunner.Run("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", Path.Combine(upper, "opaque")]);

        string committed = Path.Combine(_root, "committed.sqfs");
        using (SquashfsReader reader = SquashfsReader.Open(lower))
        {
            await SquashfsWriter.WriteAsync(OverlayChanges.ApplyAsync(reader.ReadEntriesAsync(), upper), committed);
        }

        using SquashfsReader result = SquashfsReader.Open(committed);
        var files = new Dictionary<string, string>();
        var all = new List<string>();
        foreach (FileSystemEntry e in result.ReadEntries())
        {
            all.Add(e.Path);
            if (e.Type == FileSystemEntryType.RegularFile)
            {
                using Stream s = e.OpenContent!();
                files[e.Path] = new StreamReader(s, Encoding.UTF8).ReadToEnd();
            }
            Assert.False(e.ExtendedAttributes.ContainsKey("trusted.overlay.opaque"), e.Path);
            Assert.NotEqual(FileSystemEntryType.CharacterDevice, e.Type);
        }
        Assert.Equal(new Dictionary<string, string>
        {
            ["keep/a.txt"] = "lower a",
            ["keep/changed.txt"] = "upper version",
            ["keep/new.txt"] = "added",
            ["opaque/fresh.txt"] = "only this",
            ["becomes-file"] = "now a file",
        }, files);
        Assert.DoesNotContain("gone", all);
        Assert.DoesNotContain("becomes-file/child.txt", all);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
