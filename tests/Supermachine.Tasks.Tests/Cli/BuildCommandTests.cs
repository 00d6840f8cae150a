using System.Text;
using Supermachine.FileSystem;
using Supermachine.Squashfs;
using Supermachine.Tasks.Cli;
using Supermachine.Tests.Oci;

namespace Supermachine.Tasks.Tests.Cli;

/// <summary>
/// `supermachine build` in process. A Dockerfile without RUN needs no build VM, and --no-snapshot
/// needs no boot, so this checks the command's wiring (context, -f, --build-arg, --name) and the
/// committed root filesystem quickly; the VM paths are covered by the Runtime builder tests.
/// </summary>
public class BuildCommandTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sm-cli-build-").FullName;

    [Fact]
    public async Task Builds_a_context_into_a_cold_bootable_image_whose_rootfs_holds_the_copied_files()
    {
        string context = Path.Combine(_root, "ctx");
        Directory.CreateDirectory(context);
        File.WriteAllText(Path.Combine(context, "hello.txt"), "hello from the cli\n");
        File.WriteAllText(Path.Combine(_root, "Custom.Dockerfile"), "ARG BASE\nFROM ${BASE}\nCOPY hello.txt /srv/\nWORKDIR /srv/app\nCMD [\"cat\", \"/srv/hello.txt\"]\n");
        string output = Path.Combine(_root, "out");
        var stderr = new StringWriter();

        int exit = await Program.RunAsync(
            ["build", context, output, "-f", Path.Combine(_root, "Custom.Dockerfile"), "--build-arg", $"BASE=oci-layout:{OciTestFixtures.Layout}:busybox", "--name", "hello", "--no-snapshot"],
            new StringWriter(), stderr, CancellationToken.None);

        Assert.True(exit == Program.Success, stderr.ToString());
        Assert.Contains("\"name\": \"hello\"", File.ReadAllText(Path.Combine(output, "manifest.json")));
        using SquashfsReader rootfs = SquashfsReader.Open(Path.Combine(output, "rootfs.squashfs"));
        var entries = rootfs.ReadEntries().ToDictionary(e => e.Path);
        using (Stream content = entries["srv/hello.txt"].OpenContent!())
        {
            Assert.Equal("hello from the cli\n", new StreamReader(content, Encoding.UTF8).ReadToEnd());
        }
        Assert.Equal(FileSystemEntryType.Directory, entries["srv/app"].Type);
        Assert.Contains("bin/sh", entries.Keys);
    }

    [Fact]
    public async Task A_missing_Dockerfile_fails_with_SM2207_naming_it()
    {
        var stderr = new StringWriter();
        int exit = await Program.RunAsync(["build", _root, Path.Combine(_root, "out")], new StringWriter(), stderr, CancellationToken.None);
        Assert.Equal(Program.Failure, exit);
        Assert.Contains("SM2207", stderr.ToString());
        Assert.Contains(Path.Combine(_root, "Dockerfile"), stderr.ToString());
        Assert.False(Directory.Exists(Path.Combine(_root, "out")));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
